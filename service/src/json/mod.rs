//! JSON as kakaobot reads its requests and writes its answers, faster than serde_json
//! by doing less: a reader and a writer (`reader.rs`, `writer.rs`) for what those
//! bodies hold, which *decline* anything else and leave it to serde_json.
//!
//! Why: every Kakao user reaches kakaobot through the skill routes, and a SkillPayload
//! is about a kilobyte of which kakaobot reads a handful of fields, while the rest must
//! still be checked (a malformed body gets a 400); its answer is a few hundred bytes of
//! short strings. Counted with callgrind on Kakao's sample, serde_json reads it (into
//! the fields kakaobot takes, skipping the rest) in about 18,400 instructions, sonic-rs
//! and jiter no faster (15,400 and 20,600); per string, serde_json spends more on
//! finding where a string ends than on anything else.
//!
//! Not a second JSON library to trust: serde_json stays the authority. The reader
//! accepts a body only where serde_json accepts it and reads the same values; the
//! writer writes byte for byte what serde_json writes (property tests hold both to
//! that). Wherever either is unsure — a number to convert, a `\u` escape of a
//! surrogate, nesting deeper than [`MAX_DEPTH`], a shape no kakaobot body has, any
//! error — it returns [`Declined`] and the caller uses serde_json: a rare shape costs a
//! second pass, never a different answer, and every error message is serde_json's.
//!
//! Both look for the bytes that are special inside a JSON string sixteen at a time
//! (`plain_end`): a `"`, a `\` or a control character ends a run of plain content
//! when reading, and is what must be escaped when writing.

mod reader;
mod writer;

use std::fmt;

pub use reader::from_str;
pub use writer::to_vec;

/// Deepest nesting read here (objects and arrays, typed or skipped); serde_json reads
/// typed values to 128 levels and skipped ones to any depth.
pub const MAX_DEPTH: usize = 64;

/// Left to serde_json: the reader did not read the body, or the writer did not write
/// the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declined;

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("left to serde_json")
    }
}

impl std::error::Error for Declined {}

impl serde::de::Error for Declined {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Declined
    }
}

/// Whether a byte ends a run of plain string content: `"`, `\\` or a control
/// character, which JSON forbids raw in a string.
fn is_stop(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// A bit for each byte of `block` that [`is_stop`], in four vector instructions
/// (SSE2 is part of every x86-64 CPU) rather than sixteen compares.
#[cfg(target_arch = "x86_64")]
fn stops_in(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86-64 baseline, so every CPU this runs on has these
    // instructions; `block` is 16 readable bytes, and an unaligned load reads those 16.
    unsafe {
        let bytes = _mm_loadu_si128(block.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8));
        // Unsigned b < 0x20 is max(b, 0x1f) == 0x1f.
        let low = _mm_set1_epi8(0x1f);
        let control = _mm_cmpeq_epi8(_mm_max_epu8(bytes, low), low);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn stops_in(block: &[u8; 16]) -> u32 {
    block
        .iter()
        .enumerate()
        .fold(0, |stops, (i, &b)| stops | u32::from(is_stop(b)) << i)
}

/// Where the run of plain string content that starts at `at` ends: at the first byte
/// that [`is_stop`], or at the end.
#[inline]
fn plain_end(bytes: &[u8], mut at: usize) -> usize {
    // Sixteen bytes at a time: most strings end in their first block.
    while let Some(block) = bytes.get(at..).and_then(<[u8]>::first_chunk::<16>) {
        let stops = stops_in(block);
        if stops != 0 {
            return at + stops.trailing_zeros() as usize;
        }
        at += 16;
    }
    while bytes.get(at).is_some_and(|&b| !is_stop(b)) {
        at += 1;
    }
    at
}
