//! Answers written as compact JSON, byte for byte as serde_json writes them: a serde
//! `Serializer` for the strings, integers, booleans, lists and objects kakaobot's
//! answers are made of.

use serde::ser::{self, Serialize};

use super::{is_stop, plain_end, stops_in, Declined};

/// The bots' answers are well under 1 KB of JSON; this saves growing the buffer.
const CAPACITY: usize = 1024;

/// `value` as compact JSON: written here, or by serde_json when this writer declines.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(CAPACITY);
    match value.serialize(&mut Writer { out: &mut out }) {
        Ok(()) => Ok(out),
        Err(Declined) => serde_json::to_vec(value),
    }
}

impl ser::Error for Declined {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Declined
    }
}

/// Whether `bytes` hold a byte that [`is_stop`]. Most strings an answer holds are keys
/// and labels shorter than a block: from four bytes on, their first and last eight (or
/// four, with spaces after them) make one block, checked as a long string's are.
/// Inlined, so that for a constant (a key, a variant's name) the check folds away.
#[inline(always)]
fn has_stops(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len >= 16 {
        let mut blocks = bytes.chunks_exact(16);
        let any = blocks
            .by_ref()
            .any(|block| block.first_chunk().is_some_and(|b| stops_in(b) != 0));
        // The last block, overlapping the one before it.
        return any
            || bytes[len - 16..]
                .first_chunk()
                .is_some_and(|b| stops_in(b) != 0);
    }
    let (first, last) = if len >= 8 {
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        (word(0), word(len - 8))
    } else if len >= 4 {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        (
            u64::from(word(0)) | SPACES_HIGH,
            u64::from(word(len - 4)) | SPACES_HIGH,
        )
    } else {
        return bytes.iter().any(|&b| is_stop(b));
    };
    let mut block = [0; 16];
    block[..8].copy_from_slice(&first.to_le_bytes());
    block[8..].copy_from_slice(&last.to_le_bytes());
    stops_in(&block) != 0
}

/// Spaces in the upper four bytes of a word made of four, so that only the lower four
/// can hold a stop.
const SPACES_HIGH: u64 = 0x2020_2020_0000_0000;

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'w> Writer<'w> {
    /// `text` as a JSON string, escaped as serde_json escapes it.
    #[inline(always)]
    fn string(&mut self, text: &str) {
        self.quoted(text, b"\"");
    }

    /// An object's key and the colon after it.
    #[inline(always)]
    fn key(&mut self, key: &str) {
        self.quoted(key, b"\":");
    }

    /// `text` after a quote and escaped, then `close`: the closing quote, and for a key
    /// its colon (written together, as the most frequent bytes of an answer). Inlined,
    /// so that `close` is a constant of two stores, not a copy of unknown length.
    #[inline(always)]
    fn quoted(&mut self, text: &str, close: &[u8]) {
        let bytes = text.as_bytes();
        self.out.reserve(bytes.len() + 1 + close.len());
        self.out.push(b'"');
        if has_stops(bytes) {
            self.escaped(bytes);
        } else {
            self.out.extend_from_slice(bytes);
        }
        self.out.extend_from_slice(close);
    }

    fn escaped(&mut self, bytes: &[u8]) {
        let mut from = 0;
        loop {
            let end = plain_end(bytes, from);
            self.out.extend_from_slice(&bytes[from..end]);
            let Some(&special) = bytes.get(end) else {
                return;
            };
            self.escape(special);
            from = end + 1;
        }
    }

    fn escape(&mut self, byte: u8) {
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let hex = [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]];
                self.out.extend_from_slice(b"\\u00");
                self.out.extend_from_slice(&hex);
                return;
            }
        };
        self.out.extend_from_slice(&[b'\\', short]);
    }

    fn integer(&mut self, n: impl itoa::Integer) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Opens an object or list; `empty` closes it at once.
    fn open<'a>(&'a mut self, open: u8, close: u8, empty: bool) -> Compound<'a, 'w> {
        self.out.push(open);
        if empty {
            self.out.push(close);
        }
        Compound {
            writer: self,
            first: true,
            close: (!empty).then_some(close),
        }
    }
}

macro_rules! integers {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, n: $ty) -> Result<(), Declined> {
            self.integer(n);
            Ok(())
        })*
    };
}

impl<'a, 'w> ser::Serializer for &'a mut Writer<'w> {
    type Ok = ();
    type Error = Declined;
    type SerializeSeq = Compound<'a, 'w>;
    type SerializeTuple = Compound<'a, 'w>;
    type SerializeTupleStruct = Compound<'a, 'w>;
    type SerializeTupleVariant = ser::Impossible<(), Declined>;
    type SerializeMap = Compound<'a, 'w>;
    type SerializeStruct = Compound<'a, 'w>;
    type SerializeStructVariant = ser::Impossible<(), Declined>;

    fn serialize_bool(self, v: bool) -> Result<(), Declined> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);

    // serde_json's own float formatting is left to it.
    fn serialize_f32(self, _: f32) -> Result<(), Declined> {
        Err(Declined)
    }

    fn serialize_f64(self, _: f64) -> Result<(), Declined> {
        Err(Declined)
    }

    fn serialize_char(self, v: char) -> Result<(), Declined> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    // Inlined, like `serialize_some`: a call less per string and per optional field.
    #[inline(always)]
    fn serialize_str(self, v: &str) -> Result<(), Declined> {
        self.string(v);
        Ok(())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), Declined> {
        Err(Declined)
    }

    fn serialize_none(self) -> Result<(), Declined> {
        self.serialize_unit()
    }

    #[inline(always)]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Declined> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Declined> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Declined> {
        self.serialize_unit()
    }

    /// Inlined, so that a variant's name is written as a constant (see `has_stops`).
    #[inline(always)]
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Declined> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Declined> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Declined> {
        Err(Declined)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a, 'w>, Declined> {
        Ok(self.open(b'[', b']', len == Some(0)))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'w>, Declined> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'w>, Declined> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Declined> {
        Err(Declined)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a, 'w>, Declined> {
        Ok(self.open(b'{', b'}', len == Some(0)))
    }

    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound<'a, 'w>, Declined> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Declined> {
        Err(Declined)
    }
}

/// An object or a list being written.
struct Compound<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    /// The closing byte, unless the object or list was closed when opened (empty).
    close: Option<u8>,
}

impl Compound<'_, '_> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.writer.out.push(b',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Declined> {
        self.separate();
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), Declined> {
        self.writer.out.extend(self.close);
        Ok(())
    }
}

/// A list's elements, whichever of serde's list-like shapes it comes as.
macro_rules! elements {
    ($($shape:ident::$method:ident),*) => {
        $(impl ser::$shape for Compound<'_, '_> {
            type Ok = ();
            type Error = Declined;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Declined> {
                self.element(value)
            }

            fn end(self) -> Result<(), Declined> {
                Compound::end(self)
            }
        })*
    };
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Declined;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Declined> {
        self.separate();
        key.serialize(KeyWriter(&mut *self.writer))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Declined> {
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), Declined> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Declined;

    /// Inlined into each derived `serialize`, where `key` is a constant: the check for
    /// bytes to escape folds away and the key with its quotes and colon is written as a
    /// few stores of known bytes (callgrind: 1.4k fewer instructions per quiz answer).
    #[inline(always)]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Declined> {
        self.separate();
        self.writer.key(key);
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), Declined> {
        Compound::end(self)
    }
}

/// An object's key (a string) and its colon. serde_json also writes numbers and
/// booleans as keys, in quotes; no kakaobot answer has them, so they are left to it.
struct KeyWriter<'a, 'w>(&'a mut Writer<'w>);

macro_rules! declined {
    ($($method:ident($($ty:ty),*)),*) => {
        $(fn $method(self, $(_: $ty),*) -> Result<(), Declined> {
            Err(Declined)
        })*
    };
}

impl ser::Serializer for KeyWriter<'_, '_> {
    type Ok = ();
    type Error = Declined;
    type SerializeSeq = ser::Impossible<(), Declined>;
    type SerializeTuple = ser::Impossible<(), Declined>;
    type SerializeTupleStruct = ser::Impossible<(), Declined>;
    type SerializeTupleVariant = ser::Impossible<(), Declined>;
    type SerializeMap = ser::Impossible<(), Declined>;
    type SerializeStruct = ser::Impossible<(), Declined>;
    type SerializeStructVariant = ser::Impossible<(), Declined>;

    fn serialize_str(self, v: &str) -> Result<(), Declined> {
        self.0.key(v);
        Ok(())
    }

    declined!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str)
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Declined> {
        Err(Declined)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Declined> {
        Err(Declined)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Declined> {
        Err(Declined)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Declined> {
        Err(Declined)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Declined> {
        Err(Declined)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Declined> {
        Err(Declined)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Declined> {
        Err(Declined)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Declined> {
        Err(Declined)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Declined> {
        Err(Declined)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Declined> {
        Err(Declined)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{json, Value};

    use super::*;

    /// Written here, and the same bytes serde_json writes.
    fn same_as_serde_json<T: Serialize + ?Sized>(value: &T) -> Result<(), TestCaseError> {
        let mut out = Vec::new();
        let written = value.serialize(&mut Writer { out: &mut out });
        prop_assert!(written.is_ok());
        prop_assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            serde_json::to_string(value).expect("serde_json writes it")
        );
        Ok(())
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        use_callback: Option<bool>,
        code: i64,
        count: u32,
        buttons: Vec<String>,
        extra: BTreeMap<String, String>,
        nothing: Option<String>,
        empty: Vec<String>,
        kind: Kind,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    enum Kind {
        WebLink,
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~가-힣😀\u{0}-\u{1f}\u{7f}\u{2028}]{0,40}",
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn what_it_writes_is_what_serde_json_writes(
            text in text(),
            use_callback in any::<Option<bool>>(),
            code in any::<i64>(),
            count in any::<u32>(),
            buttons in prop::collection::vec(text(), 0..4),
            extra in prop::collection::btree_map(text(), text(), 0..4),
        ) {
            same_as_serde_json(&Answer {
                text,
                use_callback,
                code,
                count,
                buttons,
                extra,
                nothing: None,
                empty: Vec::new(),
                kind: Kind::WebLink,
            })?;
        }
    }

    #[test]
    fn a_byte_to_escape_is_found_wherever_it_is_in_a_short_string() {
        for len in 0..=20 {
            same_as_serde_json(&"abcdefghijklmnopqrstu"[..len]).unwrap();
            for at in 0..len {
                for special in ['"', '\\', '\n', '\u{1f}', '\u{7f}', '가'] {
                    let mut text = "abcdefghijklmnopqrstu"[..len].to_owned();
                    text.replace_range(at..=at, special.encode_utf8(&mut [0; 4]));
                    same_as_serde_json(&text).unwrap();
                }
            }
        }
    }

    #[test]
    fn what_it_does_not_write_serde_json_does() {
        let value = json!({"ratio": 0.5, "name": "김밥"});
        assert_eq!(
            value.serialize(&mut Writer {
                out: &mut Vec::new()
            }),
            Err(Declined)
        );
        assert_eq!(
            to_vec(&value).expect("written"),
            serde_json::to_vec(&value).expect("written")
        );
        let numbered_keys = BTreeMap::from([(1, "one")]);
        assert_eq!(to_vec(&numbered_keys).expect("written"), br#"{"1":"one"}"#);
        let _: Value = serde_json::from_slice(&to_vec(&numbered_keys).unwrap()).unwrap();
    }
}
