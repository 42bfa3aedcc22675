//! `도움말`: whether a message asks how to use the bot. Every bot answers it, and
//! [`super::Bots::reply`] decides it, once, for both wire formats.

/// The words that ask for help, compared after [`asks_for_help`]'s normalising.
const HELP_WORDS: [&str; 6] = ["도움말", "도움", "사용법", "명령어", "help", "헬프"];

/// Whether `text` asks how to use the bot: one of `HELP_WORDS` (ASCII letters in
/// any case), optionally after a `/` or `#` (people type commands the way other bots
/// and the lunch menu write them) and before a question mark, or a question mark
/// alone.
pub fn asks_for_help(text: &str) -> bool {
    let text = text.trim();
    if matches!(text, "?" | "？") {
        return true;
    }
    let word = text
        .strip_prefix(['/', '#'])
        .unwrap_or(text)
        .trim_end_matches(['?', '？'])
        .trim();
    HELP_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::asks_for_help;

    #[test]
    fn the_usual_ways_of_asking_for_help_are_understood() {
        for text in [
            "도움말",
            "도움",
            "사용법",
            "명령어",
            "help",
            "HELP",
            "Help",
            "헬프",
            "?",
            "？",
            " 도움말 ",
            "도움말?",
            "/help",
            "#도움말",
            "/도움말",
            "사용법?",
            "도움말\n",
        ] {
            assert!(asks_for_help(text), "{text:?}");
        }
    }

    #[test]
    fn other_text_is_not_a_request_for_help() {
        for text in [
            "",
            "웹 퀴즈",
            "도움말 주세요 김밥",
            "helpful",
            "??",
            "#설정",
            "내 점수",
            "도움이 필요해",
        ] {
            assert!(!asks_for_help(text), "{text:?}");
        }
    }
}
