//! The wire formats Kakao speaks, each with the renderer that turns a bot's
//! [`Reply`](crate::bots::Reply) into it within Kakao's limits:
//!
//! - [`skill`]: Kakao i Open Builder skills (SkillPayload in, SkillResponse 2.0 out),
//!   how every Kakao channel reaches a bot today;
//! - [`smartchat`]: the 2018 smart-chat API of the tutorials, retired by Kakao on
//!   2019-12-31 and kept for the tutorials' readers and old integrations.
//!
//! A wire format knows the bots' plain Rust types and JSON; it knows nothing of storage.

pub mod skill;
pub mod smartchat;

/// Cuts `text` to at most `max` characters (Unicode scalar values, as Kakao counts
/// them), ending with `…` when anything was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    text.chars()
        .take(max.saturating_sub(1))
        .chain(std::iter::once('…'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut_with_an_ellipsis() {
        assert_eq!(cut("김밥천국", 14), "김밥천국");
        assert_eq!(cut("하이퍼텍스트 마크업 언어", 8), "하이퍼텍스트 …");
        assert_eq!(cut("하이퍼텍스트 마크업 언어", 8).chars().count(), 8);
    }
}
