//! Which database holds the jobs: `DATABASE_URL`, parsed once.
//!
//! SQLite under `DATA_DIR` is the embedded default (one process); PostgreSQL is the
//! shared store. A PostgreSQL URL carries a password, so it is kept as a [`Secret`]: it
//! never reaches a log line, an error or `{:?}`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::secret::Secret;

/// A `DATABASE_URL` that names a database kind Backdrop can use.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:PATH` or `sqlite://PATH`.
    Sqlite(String),
    /// `postgres://` or `postgresql://`, checked by the driver's own parser.
    Postgres(Secret),
}

impl DatabaseUrl {
    /// The default: `DATA_DIR/backdrop.db`.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::Sqlite(format!("sqlite://{}/backdrop.db", data_dir.display()))
    }

    /// The URL as the driver needs it.
    pub(crate) fn expose(&self) -> &str {
        match self {
            Self::Sqlite(url) => url,
            Self::Postgres(url) => url.expose(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl FromStr for DatabaseUrl {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, &'static str> {
        let s = s.trim();
        if s.starts_with("sqlite:") {
            return Ok(Self::Sqlite(s.to_owned()));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            // The parser's own message may quote the URL: only say that it is malformed.
            return match sqlx::postgres::PgConnectOptions::from_str(s) {
                Ok(_) => Ok(Self::Postgres(Secret::new(s))),
                Err(_) => Err("is not a valid postgres:// URL"),
            };
        }
        Err("must be a sqlite: or postgres:// URL")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(url) => write!(f, "Sqlite({url:?})"),
            Self::Postgres(_) => f.write_str("Postgres(***)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_refusals() {
        assert!(matches!("sqlite://./data/x.db".parse(), Ok(DatabaseUrl::Sqlite(_))));
        let pg: DatabaseUrl = "postgres://bot:pa55word@db:5432/backdrop".parse().unwrap();
        assert!(pg.is_postgres());
        assert!(!format!("{pg:?}").contains("pa55word"));
        assert!("postgresql://localhost/backdrop".parse::<DatabaseUrl>().is_ok());
        for bad in ["mysql://x", "", "postgres://host:notaport/db", "/data/x.db"] {
            let err = bad.parse::<DatabaseUrl>().unwrap_err();
            assert!(!err.contains("notaport"), "{bad}: {err}");
        }
    }
}
