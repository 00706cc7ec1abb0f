//! Lane slots. (Skeleton.)

/// A held slot on a lane; dropping it gives the slot back.
#[derive(Debug)]
pub struct SlotGuard {
    _private: (),
}
