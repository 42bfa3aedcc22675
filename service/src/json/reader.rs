//! Request bodies read into typed fields, skipping what no field takes: a serde
//! `Deserializer` over the body's text (already checked to be UTF-8).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{plain_end, Declined, MAX_DEPTH};

/// `T` read from `text`, which must hold one JSON value and nothing after it but
/// whitespace.
pub fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, Declined> {
    let mut reader = Reader {
        text,
        pos: 0,
        depth: 0,
    };
    let value = T::deserialize(&mut reader)?;
    reader.skip_whitespace();
    if reader.pos == text.len() {
        Ok(value)
    } else {
        Err(Declined)
    }
}

struct Reader<'de> {
    text: &'de str,
    /// The next byte to read.
    pos: usize,
    /// Objects and arrays open around the value being read.
    depth: usize,
}

/// A string as read: borrowed from the body unless it had escapes.
enum Str<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Reader<'de> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, consumed. Every byte above a space is one that
    /// is not whitespace: in compact JSON, as Kakao sends, that is one comparison.
    #[inline(always)]
    fn next_token(&mut self) -> Result<u8, Declined> {
        let mut byte = self.peek().ok_or(Declined)?;
        if byte <= b' ' {
            self.skip_whitespace();
            byte = self.peek().ok_or(Declined)?;
        }
        self.pos += 1;
        Ok(byte)
    }

    #[inline(always)]
    fn expect(&mut self, token: u8) -> Result<(), Declined> {
        if self.next_token()? == token {
            Ok(())
        } else {
            Err(Declined)
        }
    }

    /// Consumes `word` (the rest of `true`, `false` or `null`).
    fn literal(&mut self, word: &[u8]) -> Result<(), Declined> {
        let end = self.pos + word.len();
        if self.text.as_bytes().get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(Declined)
        }
    }

    /// The string whose opening quote was just consumed, with escapes decoded.
    #[inline(always)]
    fn string(&mut self) -> Result<Str<'de>, Declined> {
        let start = self.pos;
        let end = plain_end(self.text.as_bytes(), start);
        match self.text.as_bytes().get(end) {
            Some(b'"') => {
                self.pos = end + 1;
                // Both ends are ASCII bytes of valid UTF-8, so char boundaries.
                self.text.get(start..end).map(Str::Borrowed).ok_or(Declined)
            }
            Some(b'\\') => self.escaped_string(start, end).map(Str::Owned),
            _ => Err(Declined),
        }
    }

    fn escaped_string(&mut self, start: usize, mut end: usize) -> Result<String, Declined> {
        let mut out = String::with_capacity(end - start + 16);
        let mut from = start;
        loop {
            out.push_str(self.text.get(from..end).ok_or(Declined)?);
            match self.text.as_bytes().get(end) {
                Some(b'"') => {
                    self.pos = end + 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let (ch, len) = self.escape(end + 1)?;
                    out.push(ch);
                    from = end + 1 + len;
                    end = plain_end(self.text.as_bytes(), from);
                }
                _ => return Err(Declined),
            }
        }
    }

    /// The character an escape stands for and the bytes it takes after its `\`. A
    /// `\u` escape of a surrogate is left to serde_json, which pairs them.
    fn escape(&self, at: usize) -> Result<(char, usize), Declined> {
        let ch = match self.text.as_bytes().get(at).ok_or(Declined)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let code = self.hex4(at + 1)?;
                return char::from_u32(code).map(|ch| (ch, 5)).ok_or(Declined);
            }
            _ => return Err(Declined),
        };
        Ok((ch, 1))
    }

    /// Four hex digits at `at`.
    fn hex4(&self, at: usize) -> Result<u32, Declined> {
        let digits = self.text.get(at..at + 4).ok_or(Declined)?;
        if digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            u32::from_str_radix(digits, 16).map_err(|_| Declined)
        } else {
            Err(Declined)
        }
    }

    /// Skips the string whose opening quote was just consumed, checking its escapes as
    /// serde_json does for a string it skips (any four hex digits after `\u`).
    #[inline(always)]
    fn skip_string(&mut self) -> Result<(), Declined> {
        let mut end = plain_end(self.text.as_bytes(), self.pos);
        loop {
            match self.text.as_bytes().get(end) {
                Some(b'"') => {
                    self.pos = end + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    let len = match self.text.as_bytes().get(end + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 1,
                        Some(b'u') => self.hex4(end + 2).map(|_| 5)?,
                        _ => return Err(Declined),
                    };
                    end = plain_end(self.text.as_bytes(), end + 1 + len);
                }
                _ => return Err(Declined),
            }
        }
    }

    /// Skips the number whose first byte (`-` or a digit) was just consumed.
    fn skip_number(&mut self, first: u8) -> Result<(), Declined> {
        let first = if first == b'-' {
            let digit = self.peek().ok_or(Declined)?;
            self.pos += 1;
            digit
        } else {
            first
        };
        match first {
            // One leading zero, and no digit after it.
            b'0' if self.peek().is_some_and(|b| b.is_ascii_digit()) => return Err(Declined),
            b'0' => {}
            b'1'..=b'9' => self.skip_digits(),
            _ => return Err(Declined),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.at_least_one_digit()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.at_least_one_digit()?;
        }
        Ok(())
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Result<(), Declined> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(Declined);
        }
        self.skip_digits();
        Ok(())
    }

    /// Skips one value, checking it, without recursion: `open` holds a bit per open
    /// container (1 for an object).
    fn skip_value(&mut self) -> Result<(), Declined> {
        let mut open: u64 = 0;
        let mut depth = 0;
        loop {
            // A value.
            match self.next_token()? {
                b'"' => self.skip_string()?,
                b'{' | b'[' if self.depth + depth >= MAX_DEPTH => return Err(Declined),
                b'{' => {
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                    } else {
                        open = open << 1 | 1;
                        depth += 1;
                        self.skip_key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                    } else {
                        open <<= 1;
                        depth += 1;
                        continue;
                    }
                }
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'n' => self.literal(b"ull")?,
                first @ (b'-' | b'0'..=b'9') => self.skip_number(first)?,
                _ => return Err(Declined),
            }
            // After a value: close what it ends, up to the next value.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let in_object = open & 1 == 1;
                match self.next_token()? {
                    b',' if in_object => {
                        self.skip_key()?;
                        break;
                    }
                    b',' => break,
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return Err(Declined),
                }
                open >>= 1;
                depth -= 1;
            }
        }
    }

    /// Skips an object's key and its colon.
    #[inline(always)]
    fn skip_key(&mut self) -> Result<(), Declined> {
        self.expect(b'"')?;
        self.skip_string()?;
        self.expect(b':')
    }

    /// Reads the object or array whose opening byte was just consumed with `visit`,
    /// which must read it to its end.
    fn container<V>(
        &mut self,
        visit: impl FnOnce(&mut Items<'_, 'de>) -> Result<V, Declined>,
    ) -> Result<V, Declined> {
        if self.depth >= MAX_DEPTH {
            return Err(Declined);
        }
        self.depth += 1;
        let mut items = Items {
            reader: &mut *self,
            first: true,
            finished: false,
        };
        let value = visit(&mut items)?;
        // serde_json refuses an object or array its visitor left unfinished.
        let finished = items.finished;
        self.depth -= 1;
        if finished {
            Ok(value)
        } else {
            Err(Declined)
        }
    }
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        match self.next_token()? {
            b'"' => match self.string()? {
                Str::Borrowed(text) => visitor.visit_borrowed_str(text),
                Str::Owned(text) => visitor.visit_str(&text),
            },
            b'{' => self.container(|entries| visitor.visit_map(entries)),
            b'[' => self.container(|elements| visitor.visit_seq(elements)),
            b't' => self.literal(b"rue").and_then(|()| visitor.visit_bool(true)),
            b'f' => self
                .literal(b"alse")
                .and_then(|()| visitor.visit_bool(false)),
            b'n' => self.literal(b"ull").and_then(|()| visitor.visit_unit()),
            // No field kakaobot reads holds a number; serde_json converts them.
            _ => Err(Declined),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        self.skip_whitespace();
        if self.peek() == Some(b'n') {
            self.pos += 1;
            self.literal(b"ull")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        self.skip_value()?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Declined> {
        // As serde_json does (its raw-value newtype aside, which no request holds).
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Declined> {
        Err(Declined)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// An object's entries or an array's elements, for a visitor.
struct Items<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
    /// The closing brace or bracket was read.
    finished: bool,
}

impl Items<'_, '_> {
    /// Reads what comes before the next entry or element: nothing before the first, a
    /// comma before any other. `false` when `close` came instead, and the container
    /// is finished.
    fn another(&mut self, close: u8) -> Result<bool, Declined> {
        self.reader.skip_whitespace();
        match (self.reader.peek(), self.first) {
            (Some(b), _) if b == close => {
                self.reader.pos += 1;
                self.finished = true;
                return Ok(false);
            }
            (_, true) => {}
            (Some(b','), false) => self.reader.pos += 1,
            _ => return Err(Declined),
        }
        self.first = false;
        Ok(true)
    }
}

impl<'de> MapAccess<'de> for Items<'_, 'de> {
    type Error = Declined;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Declined> {
        if !self.another(b'}')? {
            return Ok(None);
        }
        self.reader.skip_whitespace();
        if self.reader.peek() != Some(b'"') {
            return Err(Declined);
        }
        seed.deserialize(Key(&mut *self.reader)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Declined> {
        self.reader.expect(b':')?;
        seed.deserialize(&mut *self.reader)
    }
}

/// An object's key, at its opening quote. serde_json decodes every key of an object it
/// hands a visitor, even one the visitor skips (and refuses a lone surrogate in it), so
/// this reads it as a string whatever it is asked for.
struct Key<'a, 'de>(&'a mut Reader<'de>);

impl<'de> de::Deserializer<'de> for Key<'_, 'de> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        self.0.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        enum identifier ignored_any
    }
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = Declined;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Declined> {
        if !self.another(b']')? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::sample::select;
    use serde_json::{json, Map, Value};

    use std::fmt;

    use super::*;
    use crate::kakao::skill::SkillRequest;
    use crate::kakao::smartchat::MessageRequest;

    /// Both readers on `text`: the fast one's result must be serde_json's whenever the
    /// fast one reads it at all.
    fn agree<'a, T>(text: &'a str) -> Result<Option<T>, TestCaseError>
    where
        T: Deserialize<'a> + fmt::Debug,
    {
        let Ok(fast) = from_str::<T>(text) else {
            return Ok(None);
        };
        match serde_json::from_str::<T>(text) {
            Ok(slow) => prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}")),
            Err(e) => prop_assert!(false, "read {fast:?}, where serde_json says {e}: {text}"),
        }
        Ok(Some(fast))
    }

    /// Kakao's SkillPayload sample (`skillpayload_knowledge.json`), with a quiz tap.
    fn kakao_payload() -> Value {
        json!({
            "bot": {"id": "<봇 id>", "name": "<봇 이름>"},
            "intent": {"id": "<블록 id>", "name": "지식+", "extra": {
                "reason": {"code": 1, "message": "OK"},
                "knowledge": {"responseType": "skill", "matchedKnowledges": [{
                    "categories": ["<카테고리 1>", "<카테고리 2>"],
                    "question": "<질문>", "answer": "<답변>",
                    "imageUrl": "<이미지 url>", "landingUrl": "<랜딩 url>"
                }]}
            }},
            "action": {"id": "<액션 id>", "name": "<액션 이름>", "params": {},
                "detailParams": {}, "clientExtra": {
                    "kakaobot": "answer", "question": "python-floor-div", "choice": "3"}},
            "userRequest": {
                "block": {"id": "<블록 id>", "name": "<블록 이름>"},
                "user": {"id": "a1b2c3", "type": "botUserKey",
                    "properties": {"botUserKey": "a1b2c3", "plusfriendUserKey": "Wb8QkM2x"}},
                "utterance": "3\n",
                "params": {"surface": "BuilderBotTest", "ignoreMe": "true"},
                "callbackUrl": "https://bot-api.kakao.com/v1/callback/abc",
                "lang": "ko",
                "timezone": "Asia/Seoul"
            },
            "contexts": []
        })
    }

    /// Where a SkillPayload's values sit, read or skipped.
    const PATHS: &[&[&str]] = &[
        &["userRequest"],
        &["userRequest", "utterance"],
        &["userRequest", "user"],
        &["userRequest", "user", "id"],
        &["userRequest", "user", "type"],
        &["userRequest", "user", "properties"],
        &["userRequest", "user", "properties", "plusfriendUserKey"],
        &["userRequest", "user", "properties", "plusfriend_user_key"],
        &["userRequest", "callbackUrl"],
        &["userRequest", "lang"],
        &["userRequest", "timezone"],
        &["userRequest", "params"],
        &["userRequest", "other"],
        &["action"],
        &["action", "id"],
        &["action", "name"],
        &["action", "params"],
        &["action", "clientExtra"],
        &["action", "clientExtra", "kakaobot"],
        &["action", "clientExtra", "question"],
        &["action", "clientExtra", "choice"],
        &["action", "clientExtra", "restaurant"],
        &["action", "clientExtra", "mine"],
        &["intent"],
        &["intent", "extra"],
        &["bot"],
        &["contexts"],
        &["other"],
    ];

    fn text() -> impl Strategy<Value = String> {
        "[a-z가-힣\"\\\\/ \n\t\u{1}\u{1f}\u{7f}😀]{0,12}"
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 24, 5, |inner| {
            let key = prop_oneof![
                select(&["kakaobot", "question", "id", "a"][..]).prop_map(String::from),
                text()
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key, inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// Sets (or, with `None`, removes) the value at `path`, where its parent is an object.
    fn edit(doc: &mut Value, path: &[&str], value: Option<Value>) {
        let (last, parents) = path.split_last().expect("paths are not empty");
        let Some(parent) = parents
            .iter()
            .try_fold(&mut *doc, |node, key| node.get_mut(*key))
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        match value {
            Some(value) => parent.insert((*last).to_owned(), value),
            None => parent.remove(*last),
        };
    }

    /// The document written compactly, pretty, or with every non-ASCII character as a
    /// `\u` escape (surrogate pairs for those past the BMP), as some JSON writers do.
    fn write(doc: &Value, style: u8) -> String {
        match style {
            0 => doc.to_string(),
            1 => serde_json::to_string_pretty(doc).expect("a Value writes"),
            _ => doc
                .to_string()
                .chars()
                .map(|c| match c {
                    c if c.is_ascii() => c.to_string(),
                    c => c
                        .encode_utf16(&mut [0; 2])
                        .iter()
                        .map(|unit| format!("\\u{unit:04x}"))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Byte edits that break or bend JSON: a byte removed, or one inserted.
    fn mutate(text: &str, edits: &[(usize, Option<u8>)]) -> Option<String> {
        let mut bytes = text.as_bytes().to_vec();
        for &(at, byte) in edits {
            let at = at % (bytes.len() + 1);
            match byte {
                Some(b) => bytes.insert(at, b),
                None if at < bytes.len() => {
                    bytes.remove(at);
                }
                None => {}
            }
        }
        String::from_utf8(bytes).ok()
    }

    fn json_byte() -> impl Strategy<Value = Option<u8>> {
        prop_oneof![
            Just(None),
            select(b"{}[]:,\"\\ \n0123456789-+.eEtrufalsn\x01\x1fu".to_vec()).prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn whatever_the_fast_reader_reads_serde_json_reads_the_same(
            edits in prop::collection::vec((select(PATHS), prop::option::weighted(0.8, any_json())), 0..4),
            style in 0u8..3,
            bytes in prop::collection::vec((any::<usize>(), json_byte()), 0..3),
        ) {
            let mut doc = kakao_payload();
            for (path, value) in edits {
                edit(&mut doc, path, value);
            }
            if let Some(text) = mutate(&write(&doc, style), &bytes) {
                agree::<SkillRequest>(&text)?;
                agree::<MessageRequest>(&text)?;
            }
        }

        #[test]
        fn a_payload_whose_numbers_all_sit_in_skipped_values_is_read_by_the_fast_reader(
            skipped in prop::collection::vec(
                (select(PATHS).prop_filter("skipped", |p| is_skipped(p)), any_json()), 0..4),
            utterance in text(),
            style in 0u8..2,
        ) {
            let mut doc = kakao_payload();
            edit(&mut doc, &["userRequest", "utterance"], Some(utterance.into()));
            for (path, value) in skipped {
                edit(&mut doc, path, Some(value));
            }
            let text = write(&doc, style);
            prop_assert!(agree::<SkillRequest>(&text)?.is_some(), "declined {}", text);
        }

        #[test]
        fn a_smart_chat_message_is_read_by_the_fast_reader(
            key in "[A-Za-z0-9_-]{1,20}",
            content in text(),
            style in 0u8..3,
        ) {
            let doc = json!({"user_key": key, "type": "text", "content": content});
            let text = write(&doc, style);
            let read = agree::<MessageRequest>(&text)?;
            // Only a character past the BMP, written as a surrogate pair, is left to
            // serde_json.
            prop_assert!(read.is_some() || style == 2 && content.contains('😀'), "declined {}", text);
        }
    }

    /// Values kakaobot does not read, which may be anything.
    fn is_skipped(path: &[&str]) -> bool {
        matches!(
            path,
            ["userRequest", "params" | "other"]
                | ["action", "params" | "mine"]
                | ["action", "clientExtra", "mine"]
                | ["intent" | "bot" | "contexts" | "other", ..]
        )
    }

    #[test]
    fn kakaos_sample_is_read_by_the_fast_reader_as_serde_json_reads_it() {
        let text = kakao_payload().to_string();
        let fast: SkillRequest = from_str(&text).expect("read");
        let slow: SkillRequest = serde_json::from_str(&text).expect("read");
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }

    #[test]
    fn what_is_left_to_serde_json() {
        let declined = [
            // Trailing characters, a trailing comma, a missing value.
            r#"{"user_key":"a","type":"text","content":"x"} x"#,
            r#"{"user_key":"a","type":"text","content":"x",}"#,
            r#"{"user_key":"a","type":"text","content":}"#,
            // A control character in a string, a bad escape, a leading zero.
            "{\"user_key\":\"a\",\"type\":\"text\",\"content\":\"\u{1}\"}",
            r#"{"user_key":"a","type":"text","content":"\x"}"#,
            r#"{"user_key":"a","type":"text","content":"x","n":01}"#,
            // A surrogate pair, which serde_json decodes.
            r#"{"user_key":"a","type":"text","content":"\ud83d\ude00"}"#,
            // A duplicate field, which the type refuses.
            r#"{"user_key":"a","user_key":"b","type":"text","content":"x"}"#,
            // A lone surrogate in a key the type skips: serde_json decodes keys.
            r#"{"user_key":"a","type":"text","content":"x","\ud83dx":1}"#,
        ];
        for text in declined {
            assert_eq!(
                from_str::<MessageRequest>(text).err(),
                Some(Declined),
                "{text}"
            );
        }
        let surrogates: MessageRequest = serde_json::from_str(declined[6]).expect("valid");
        assert_eq!(&*surrogates.content, "😀");
    }

    #[test]
    fn a_skipped_value_nested_deeper_than_the_limit_is_left_to_serde_json() {
        let nested = |levels: usize| {
            format!(
                r#"{{"user_key":"a","type":"text","content":"x","deep":{}1{}}}"#,
                "[{\"a\":".repeat(levels),
                "}]".repeat(levels)
            )
        };
        // The body's own object is one level; each `[{` two more.
        let deep = nested(MAX_DEPTH / 2);
        assert_eq!(from_str::<MessageRequest>(&deep).err(), Some(Declined));
        assert!(serde_json::from_str::<MessageRequest>(&deep).is_ok());
        assert!(from_str::<MessageRequest>(&nested(MAX_DEPTH / 2 - 1)).is_ok());
    }

    #[test]
    fn escapes_are_decoded_as_serde_json_decodes_them() {
        let text = r#"{"user_key":"a","type":"text","content":"\"\\\/\b\f\n\r\t\u00e9\uD55C"}"#;
        let fast: MessageRequest = from_str(text).expect("read");
        assert_eq!(&*fast.content, "\"\\/\u{8}\u{c}\n\r\té한");
        let _: Map<String, Value> = serde_json::from_str(text).expect("valid JSON");
    }
}
