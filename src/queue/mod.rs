//! The job queue. (Skeleton: filled in by the core work.)

mod pool;
pub use pool::SlotGuard;
