//! The integration tests of the kakaobot crate, in one binary (one link, one place
//! for the shared helpers).

mod helpers;
mod store;
