//! The quiz's questions: data, not code. The embedded bank is `service/questions/quiz.toml`;
//! an operator may point the `question_bank` setting at their own file.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// Longest question text. A question is shown with a category header in a message of
/// at most 1000 characters, so leave room.
pub const MAX_QUESTION_CHARS: usize = 800;
/// Longest explanation, shown after a verdict line and the right answer.
pub const MAX_EXPLANATION_CHARS: usize = 500;
/// Longest choice: it is a button label.
pub const MAX_CHOICE_CHARS: usize = 50;
pub const MIN_CHOICES: usize = 2;
pub const MAX_CHOICES: usize = 10;

/// A quiz category, with the home-keyboard button that asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Python,
    Web,
    Computer,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Python, Category::Web, Category::Computer];

    /// The id used in storage and in the bank file.
    pub fn id(self) -> &'static str {
        match self {
            Category::Python => "python",
            Category::Web => "web",
            Category::Computer => "computer",
        }
    }

    /// The home-keyboard button.
    pub fn label(self) -> &'static str {
        match self {
            Category::Python => "파이썬 퀴즈",
            Category::Web => "웹 퀴즈",
            Category::Computer => "컴퓨터 퀴즈",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.label() == label)
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub category: Category,
    pub text: String,
    pub choices: Vec<String>,
    pub answer: String,
    pub explanation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BankFile {
    question: Vec<Question>,
}

/// Why a question bank was refused. Messages name the file and the bad entry.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    #[error("cannot read question bank {origin}: {source}")]
    Read {
        origin: String,
        source: std::io::Error,
    },
    #[error("question bank {origin} is not valid TOML: {source}")]
    Parse {
        origin: String,
        source: Box<toml::de::Error>,
    },
    #[error("question bank {origin}, question '{id}': {problem}")]
    Invalid {
        origin: String,
        id: String,
        problem: String,
    },
    #[error("question bank {origin} has no question in category '{category}'")]
    EmptyCategory { origin: String, category: Category },
}

/// A validated set of questions.
#[derive(Clone, Debug)]
pub struct QuestionBank {
    questions: Vec<Question>,
    by_id: HashMap<String, usize>,
}

const EMBEDDED: &str = include_str!("../../questions/quiz.toml");

impl QuestionBank {
    /// The bank shipped in the binary.
    pub fn embedded() -> Result<Self, BankError> {
        Self::from_toml(EMBEDDED, "(embedded questions/quiz.toml)")
    }

    pub fn from_file(path: &Path) -> Result<Self, BankError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BankError::Read {
            origin: origin.clone(),
            source,
        })?;
        Self::from_toml(&text, &origin)
    }

    /// Parses and validates a bank. `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, BankError> {
        let file: BankFile = toml::from_str(text).map_err(|source| BankError::Parse {
            origin: origin.to_owned(),
            source: Box::new(source),
        })?;
        let mut by_id = HashMap::new();
        for (index, question) in file.question.iter().enumerate() {
            let invalid = |problem: String| BankError::Invalid {
                origin: origin.to_owned(),
                id: if question.id.is_empty() {
                    format!("#{}", index + 1)
                } else {
                    question.id.clone()
                },
                problem,
            };
            check_question(question).map_err(invalid)?;
            if by_id.insert(question.id.clone(), index).is_some() {
                return Err(invalid("the id is used by an earlier question".into()));
            }
        }
        for category in Category::ALL {
            if !file.question.iter().any(|q| q.category == category) {
                return Err(BankError::EmptyCategory {
                    origin: origin.to_owned(),
                    category,
                });
            }
        }
        Ok(Self {
            questions: file.question,
            by_id,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Question> {
        self.by_id.get(id).map(|&i| &self.questions[i])
    }

    pub fn in_category(&self, category: Category) -> impl Iterator<Item = &Question> {
        self.questions
            .iter()
            .filter(move |q| q.category == category)
    }

    pub fn len(&self) -> usize {
        self.questions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.questions.is_empty()
    }
}

fn check_question(q: &Question) -> Result<(), String> {
    if q.id.trim().is_empty() {
        return Err("id is empty".into());
    }
    if q.id.contains(|c: char| c.is_whitespace() || c == ':') {
        return Err("id may not contain whitespace or ':'".into());
    }
    check_len("text", &q.text, 1, MAX_QUESTION_CHARS)?;
    check_len("explanation", &q.explanation, 1, MAX_EXPLANATION_CHARS)?;
    if !(MIN_CHOICES..=MAX_CHOICES).contains(&q.choices.len()) {
        return Err(format!(
            "has {} choices; a question needs {MIN_CHOICES} to {MAX_CHOICES}",
            q.choices.len()
        ));
    }
    let mut seen = HashSet::new();
    for choice in &q.choices {
        check_len("a choice", choice, 1, MAX_CHOICE_CHARS)?;
        if choice.trim() != choice {
            return Err(format!("choice '{choice}' has leading or trailing spaces"));
        }
        if !seen.insert(choice.as_str()) {
            return Err(format!("choice '{choice}' is listed twice"));
        }
        if super::quiz::is_reserved_label(choice) {
            return Err(format!(
                "choice '{choice}' is also a home-keyboard button, so an answer could not be told apart"
            ));
        }
    }
    match q.choices.iter().filter(|c| **c == q.answer).count() {
        1 => Ok(()),
        _ => Err(format!(
            "answer '{}' is not one of its choices {:?}",
            q.answer, q.choices
        )),
    }
}

fn check_len(what: &str, value: &str, min: usize, max: usize) -> Result<(), String> {
    let n = value.chars().count();
    if n < min || value.trim().is_empty() {
        Err(format!("{what} is empty"))
    } else if n > max {
        Err(format!("{what} has {n} characters; at most {max} fit"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_EACH: &str = r#"
[[question]]
id = "p"
category = "python"
text = "Q?"
choices = ["a", "b"]
answer = "a"
explanation = "because"
[[question]]
id = "w"
category = "web"
text = "Q?"
choices = ["a", "b"]
answer = "b"
explanation = "because"
[[question]]
id = "c"
category = "computer"
text = "Q?"
choices = ["a", "b"]
answer = "a"
explanation = "because"
"#;

    fn error_of(toml: &str) -> String {
        QuestionBank::from_toml(toml, "test.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_embedded_bank_is_valid_with_at_least_three_questions_per_category() {
        let bank = QuestionBank::embedded().unwrap();
        for category in Category::ALL {
            assert!(bank.in_category(category).count() >= 3, "{category}");
        }
    }

    #[test]
    fn the_tutorials_wrong_answers_are_fixed() {
        let bank = QuestionBank::embedded().unwrap();
        let markup = bank.get("web-not-markup").unwrap();
        assert_eq!(markup.answer, "JSON");
        assert!(bank
            .in_category(Category::Computer)
            .all(|q| q.choices.contains(&q.answer)));
    }

    #[test]
    fn a_small_valid_bank_loads() {
        assert_eq!(QuestionBank::from_toml(ONE_EACH, "t").unwrap().len(), 3);
    }

    #[test]
    fn an_answer_that_is_not_a_choice_names_the_question() {
        let bad = ONE_EACH.replacen("answer = \"b\"", "answer = \"z\"", 1);
        let err = error_of(&bad);
        assert!(err.contains("question 'w'"), "{err}");
        assert!(
            err.contains("answer 'z' is not one of its choices"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_choices_and_ids_are_refused() {
        let dup_choice = ONE_EACH.replacen(r#"["a", "b"]"#, r#"["a", "a"]"#, 1);
        assert!(error_of(&dup_choice).contains("listed twice"));
        let dup_id = ONE_EACH.replacen("id = \"w\"", "id = \"p\"", 1);
        assert!(error_of(&dup_id).contains("used by an earlier question"));
    }

    #[test]
    fn too_few_choices_too_long_text_and_empty_categories_are_refused() {
        let one_choice = ONE_EACH.replacen(r#"["a", "b"]"#, r#"["a"]"#, 1);
        assert!(error_of(&one_choice).contains("1 choices"));
        let long = ONE_EACH.replacen(
            "text = \"Q?\"",
            &format!("text = \"{}\"", "가".repeat(801)),
            1,
        );
        assert!(error_of(&long).contains("801 characters"));
        let no_web = ONE_EACH.replace("category = \"web\"", "category = \"python\"");
        assert!(error_of(&no_web).contains("no question in category 'web'"));
    }

    #[test]
    fn a_choice_equal_to_a_home_button_is_refused() {
        let bad = ONE_EACH.replacen(r#"["a", "b"]"#, r#"["a", "내 점수"]"#, 1);
        assert!(error_of(&bad).contains("home-keyboard button"));
    }

    #[test]
    fn unknown_fields_and_categories_are_parse_errors() {
        assert!(
            error_of(&ONE_EACH.replacen("category = \"web\"", "category = \"art\"", 1))
                .contains("not valid TOML")
        );
        assert!(
            error_of(&ONE_EACH.replacen("id = \"w\"", "id = \"w\"\nhint = \"x\"", 1))
                .contains("not valid TOML")
        );
    }
}
