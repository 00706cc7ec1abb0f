//! Inline buttons and the short callback data they carry.
//!
//! Telegram allows 1-64 bytes of callback data and anyone can send any data, so a button
//! only names an [`Action`] and a job (`x:12`); whether the presser may do it is decided
//! by the job registry. Incoming data is parsed into an [`Action`] once; garbage parses to
//! `None` and gets a polite refusal.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::bot::messages::{self, Lang, LangChoice};
use crate::job::JobId;
use crate::output::{OutputFormat, VariantCount};
use crate::scenes::SceneCatalog;

/// What a button asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Cancel a queued or running job.
    Cancel(JobId),
    /// Cancel every job still live of the album whose first job is this one.
    CancelAlbum(JobId),
    /// Same two images, a new job (from a result).
    Regenerate(JobId),
    /// Same two images, a new job (from a failure).
    Retry(JobId),
    /// Forget the images; wait for a new product photo.
    NewPhoto,
    /// `/settings`: results from now on in this format.
    Format(OutputFormat),
    /// The preset scene at this place of the catalog as the background.
    Scene(u8),
    /// Show the preset scenes as pictures.
    ScenePreviews,
    /// `/settings`: requests from now on make this many variants.
    Variants(VariantCount),
    /// `/settings`: answers from now on in this language.
    Language(LangChoice),
}

impl Action {
    /// The callback data of this action (at most 22 bytes).
    pub fn encode(self) -> String {
        match self {
            Self::Cancel(job) => format!("x:{job}"),
            Self::CancelAlbum(job) => format!("a:{job}"),
            Self::Regenerate(job) => format!("r:{job}"),
            Self::Retry(job) => format!("t:{job}"),
            Self::NewPhoto => "n".to_owned(),
            Self::Format(format) => format!("f:{}", format.name()),
            Self::Scene(index) => format!("s:{index}"),
            Self::ScenePreviews => "p".to_owned(),
            Self::Variants(n) => format!("v:{n}"),
            Self::Language(choice) => format!("l:{}", choice.name()),
        }
    }

    /// The action named by callback data, or `None` for data we never produced.
    pub fn parse(data: &str) -> Option<Self> {
        if data == "n" {
            return Some(Self::NewPhoto);
        }
        if data == "p" {
            return Some(Self::ScenePreviews);
        }
        if let Some(name) = data.strip_prefix("f:") {
            // Only our own names, exactly as we write them.
            return OutputFormat::ALL.into_iter().find(|f| f.name() == name).map(Self::Format);
        }
        if let Some(n) = data.strip_prefix("v:") {
            // One digit, 1 to VariantCount::MAX: nothing else was ever offered.
            return (n.len() == 1 && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse().ok().map(Self::Variants))
                .flatten();
        }
        if let Some(name) = data.strip_prefix("l:") {
            return LangChoice::parse(name).map(Self::Language);
        }
        if let Some(index) = data.strip_prefix("s:") {
            // Plain digits only, as for jobs below.
            return (!index.is_empty() && index.len() <= 3 && index.bytes().all(|b| b.is_ascii_digit()))
                .then(|| index.parse().ok().map(Self::Scene))
                .flatten();
        }
        let (code, job) = data.split_once(':')?;
        // Only plain decimal digits: no sign, no spaces, no leading "+".
        if job.is_empty() || job.len() > 20 || !job.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let job = JobId(job.parse().ok()?);
        match code {
            "x" => Some(Self::Cancel(job)),
            "a" => Some(Self::CancelAlbum(job)),
            "r" => Some(Self::Regenerate(job)),
            "t" => Some(Self::Retry(job)),
            _ => None,
        }
    }

    /// The job the action is about, if any.
    pub fn job(self) -> Option<JobId> {
        match self {
            Self::Cancel(job) | Self::CancelAlbum(job) | Self::Regenerate(job) | Self::Retry(job) => {
                Some(job)
            }
            Self::NewPhoto
            | Self::Format(_)
            | Self::Scene(_)
            | Self::ScenePreviews
            | Self::Variants(_)
            | Self::Language(_) => None,
        }
    }
}

fn button(text: &str, action: Action) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(text, action.encode())
}

/// Under the `/settings` message: one button per format, the current one marked.
pub fn formats(lang: Lang, current: OutputFormat) -> InlineKeyboardMarkup {
    let rows = OutputFormat::ALL.map(|format| {
        let label = messages::format_label(lang, format);
        let text = if format == current { format!("✓ {label}") } else { label.to_owned() };
        vec![button(&text, Action::Format(format))]
    });
    InlineKeyboardMarkup::new(rows)
}

/// Under the `/settings` message on variants: 1 to as many as `max_jobs` lets one request
/// make (`MAX_JOBS_PER_USER`, at most [`VariantCount::MAX`]), the current one marked.
pub fn variants(current: VariantCount, max_jobs: usize) -> InlineKeyboardMarkup {
    let most = VariantCount::MAX.min(u8::try_from(max_jobs).unwrap_or(u8::MAX)).max(1);
    let row: Vec<InlineKeyboardButton> = (1..=most)
        .filter_map(|n| VariantCount::new(n).ok())
        .map(|n| {
            let text = if n == current { format!("✓ {n}") } else { n.to_string() };
            button(&text, Action::Variants(n))
        })
        .collect();
    InlineKeyboardMarkup::new([row])
}

/// Under the `/settings` message on the language: Telegram's, Russian, English.
pub fn languages(lang: Lang, current: LangChoice) -> InlineKeyboardMarkup {
    let rows = LangChoice::ALL.map(|choice| {
        let label = messages::language_label(lang, choice);
        let text = if choice == current { format!("✓ {label}") } else { label.to_owned() };
        vec![button(&text, Action::Language(choice))]
    });
    InlineKeyboardMarkup::new(rows)
}

/// Under the request for a background: the preset scenes, two to a row (at most
/// [`MAX_SCENE_BUTTONS`]; callback data carries the scene's place, not its name), and a
/// last row to see them as pictures (`previews`, in that language; none on the previews
/// themselves).
pub fn scenes(catalog: &SceneCatalog, previews: Option<Lang>) -> InlineKeyboardMarkup {
    let buttons: Vec<InlineKeyboardButton> = catalog
        .iter()
        .take(MAX_SCENE_BUTTONS)
        .enumerate()
        .map(|(i, scene)| button(&scene.name, Action::Scene(i as u8)))
        .collect();
    let mut rows: Vec<Vec<InlineKeyboardButton>> = buttons.chunks(2).map(<[_]>::to_vec).collect();
    if let Some(lang) = previews
        && !rows.is_empty()
    {
        rows.push(vec![button(messages::button_scene_previews(lang), Action::ScenePreviews)]);
    }
    InlineKeyboardMarkup::new(rows)
}

/// More would crowd the chat; operators with many scenes keep their favourites first.
pub const MAX_SCENE_BUTTONS: usize = 16;

/// Under the status message while the job is queued or generating.
pub fn cancel(lang: Lang, job: JobId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[button(messages::button_cancel(lang), Action::Cancel(job))]])
}

/// Under an album's one status message while any of its jobs is live.
pub fn cancel_album(lang: Lang, lead: JobId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[button(messages::button_cancel_all(lang), Action::CancelAlbum(lead))]])
}

/// Under the result photo.
pub fn result(lang: Lang, job: JobId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        button(messages::button_regenerate(lang), Action::Regenerate(job)),
        button(messages::button_new_photo(lang), Action::NewPhoto),
    ]])
}

/// Under a failure.
pub fn failed(lang: Lang, job: JobId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        button(messages::button_retry(lang), Action::Retry(job)),
        button(messages::button_new_photo(lang), Action::NewPhoto),
    ]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_within_telegrams_limit() {
        for action in [
            Action::Cancel(JobId(u64::MAX)),
            Action::CancelAlbum(JobId(7)),
            Action::Regenerate(JobId(1)),
            Action::Retry(JobId(42)),
            Action::NewPhoto,
            Action::Variants(VariantCount::new(4).unwrap()),
            Action::Language(LangChoice::Auto),
            Action::Language(LangChoice::Fixed(Lang::En)),
        ] {
            let data = action.encode();
            assert!(!data.is_empty() && data.len() <= 64);
            assert_eq!(Action::parse(&data), Some(action));
        }
    }

    #[test]
    fn garbage_is_refused() {
        for data in
            ["", "x", "x:", "x:-1", "x:+1", "x: 1", "q:1", "x:1:2", "r:99999999999999999999999", "nn", "x:１"]
                .into_iter()
                .chain([
                    "v:0", "v:5", "v:9", "v:abc", "v:", "v:01", "v:+1", "v:3 ", "l:xx", "l:", "l:EN", "l:ru ",
                ])
        {
            assert_eq!(Action::parse(data), None, "{data:?}");
        }
    }
}
