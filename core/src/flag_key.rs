//! What names a flag's slot: the [`FlagKey`] trait, and [`FlagIndex`].

/// A value that names a flag slot in a [`FlagTable`](crate::FlagTable).
///
/// The build-time generator (`vexil-build`) implements it for the generated `FlagId` enum,
/// whose discriminants are the slot indices the table interns compiled-in flags to.
pub trait FlagKey: Copy {
    /// The table slot of this flag.
    fn index(self) -> usize;

    /// The name of the flag this key stands for, when the key knows it (a generated `FlagId`
    /// does). A debug build then checks that the table's slot holds that flag: a table built
    /// without the generated names (`known`) would answer for another flag.
    #[inline(always)]
    fn flag_name(self) -> Option<&'static str> {
        None
    }
}

/// The slot index of a flag in one published table (see [`Snapshot::index_of`](crate::Snapshot::index_of)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlagIndex(pub u32);

impl FlagKey for FlagIndex {
    #[inline(always)]
    fn index(self) -> usize {
        self.0 as usize
    }
}

impl FlagKey for usize {
    #[inline(always)]
    fn index(self) -> usize {
        self
    }
}
