//! The RunningHub engine. (Skeleton.)
