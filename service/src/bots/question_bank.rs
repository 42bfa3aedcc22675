//! The quiz's categories and questions: data, not code. The embedded bank is
//! `service/questions/quiz.toml`; an operator may point the `question_bank` setting at
//! their own file, with categories of their own, and reload it without a restart.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::help::asks_for_help;

/// The home-keyboard button that shows the user's score, beside the categories: the
/// bank reserves its label, so no category or choice can take it.
pub const MY_SCORE: &str = "내 점수";

/// Longest question text. A question is shown with a category header in a message of
/// at most 1000 characters, so leave room.
pub const MAX_QUESTION_CHARS: usize = 800;
/// Longest explanation, shown after a verdict line and the right answer.
pub const MAX_EXPLANATION_CHARS: usize = 500;
/// Longest choice: it is a button label.
pub const MAX_CHOICE_CHARS: usize = 50;
pub const MIN_CHOICES: usize = 2;
pub const MAX_CHOICES: usize = 10;

/// Most categories: with `내 점수` they fill the 10 quick replies a skill answer may carry.
pub const MAX_CATEGORIES: usize = 9;
/// Longest category button label: a quick reply's label (skills show 14 characters).
pub const MAX_CATEGORY_LABEL_CHARS: usize = 14;

/// A quiz category, with the home-keyboard button that asks for it. Categories are
/// data: the bank file lists them (`[[category]]`), in the order the home keyboard
/// shows them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// The id questions name (`category = "python"`) and storage uses.
    pub id: String,
    /// The home-keyboard button that asks for a question of this category.
    pub label: String,
}

impl Category {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// The categories of a bank file that lists none: the three the tutorial had, so a
/// bank written before categories were data still loads unchanged.
fn tutorial_categories() -> Vec<Category> {
    [
        ("python", "파이썬 퀴즈"),
        ("web", "웹 퀴즈"),
        ("computer", "컴퓨터 퀴즈"),
    ]
    .into_iter()
    .map(|(id, label)| Category {
        id: id.to_owned(),
        label: label.to_owned(),
    })
    .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    /// The id of one of the bank's categories.
    pub category: String,
    pub text: String,
    pub choices: Vec<String>,
    pub answer: String,
    pub explanation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BankFile {
    #[serde(default)]
    category: Vec<Category>,
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
    EmptyCategory { origin: String, category: String },
    #[error("question bank {origin}, category '{id}': {problem}")]
    InvalidCategory {
        origin: String,
        id: String,
        problem: String,
    },
}

/// A validated set of categories and questions.
#[derive(Clone, Debug)]
pub struct QuestionBank {
    categories: Vec<Category>,
    questions: Vec<Question>,
    by_id: HashMap<String, usize>,
}

/// Where the bank comes from, so it can be read again (`systemctl reload kakaobot`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BankSource {
    /// `service/questions/quiz.toml`, built into the binary.
    Embedded,
    /// The operator's file (the `question_bank` setting).
    File(std::path::PathBuf),
}

impl BankSource {
    pub fn load(&self) -> Result<QuestionBank, BankError> {
        match self {
            BankSource::Embedded => QuestionBank::embedded(),
            BankSource::File(path) => QuestionBank::from_file(path),
        }
    }
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
        let categories = if file.category.is_empty() {
            tutorial_categories()
        } else {
            file.category
        };
        check_categories(&categories, origin)?;
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
            check_question(question, &categories).map_err(invalid)?;
            if by_id.insert(question.id.clone(), index).is_some() {
                return Err(invalid("the id is used by an earlier question".into()));
            }
        }
        for category in &categories {
            if !file.question.iter().any(|q| q.category == category.id) {
                return Err(BankError::EmptyCategory {
                    origin: origin.to_owned(),
                    category: category.id.clone(),
                });
            }
        }
        Ok(Self {
            categories,
            questions: file.question,
            by_id,
        })
    }

    /// The categories, in home-keyboard order.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// The category whose button says `label`.
    pub fn category_by_label(&self, label: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.label == label)
    }

    /// The category with this id.
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    pub fn get(&self, id: &str) -> Option<&Question> {
        self.by_id.get(id).map(|&i| &self.questions[i])
    }

    pub fn in_category<'a>(&'a self, category: &'a Category) -> impl Iterator<Item = &'a Question> {
        self.questions
            .iter()
            .filter(move |q| q.category == category.id)
    }

    pub fn len(&self) -> usize {
        self.questions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.questions.is_empty()
    }
}

fn check_categories(categories: &[Category], origin: &str) -> Result<(), BankError> {
    if categories.len() > MAX_CATEGORIES {
        return Err(BankError::InvalidCategory {
            origin: origin.to_owned(),
            id: categories[MAX_CATEGORIES].id.clone(),
            problem: format!(
                "a bank has at most {MAX_CATEGORIES} categories: with '{MY_SCORE}' they fill the home menu"
            ),
        });
    }
    let mut ids = HashSet::new();
    let mut labels = HashSet::new();
    for category in categories {
        let invalid = |problem: String| BankError::InvalidCategory {
            origin: origin.to_owned(),
            id: category.id.clone(),
            problem,
        };
        if category.id.trim().is_empty()
            || category
                .id
                .contains(|c: char| c.is_whitespace() || c == ':')
        {
            return Err(invalid(
                "the id must be non-empty, without whitespace or ':'".into(),
            ));
        }
        check_len("the label", &category.label, 1, MAX_CATEGORY_LABEL_CHARS).map_err(invalid)?;
        if category.label == MY_SCORE {
            return Err(invalid(format!(
                "the label '{MY_SCORE}' is the score button"
            )));
        }
        if asks_for_help(&category.label) {
            return Err(invalid(format!(
                "the label '{}' asks for help ('도움말'), so its button would show the help",
                category.label
            )));
        }
        if !ids.insert(category.id.as_str()) {
            return Err(invalid("the id is used by an earlier category".into()));
        }
        if !labels.insert(category.label.as_str()) {
            return Err(invalid(format!(
                "the label '{}' is used by an earlier category",
                category.label
            )));
        }
    }
    Ok(())
}

fn check_question(q: &Question, categories: &[Category]) -> Result<(), String> {
    if !categories.iter().any(|c| c.id == q.category) {
        let known: Vec<&str> = categories.iter().map(|c| c.id.as_str()).collect();
        return Err(format!(
            "category '{}' is not one of the bank's categories {known:?}",
            q.category
        ));
    }
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
        if asks_for_help(choice) {
            return Err(format!(
                "choice '{choice}' asks for help ('도움말'), so typing it would show the help"
            ));
        }
        if choice == MY_SCORE || categories.iter().any(|c| c.label == *choice) {
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
        let labels: Vec<&str> = bank.categories().iter().map(Category::label).collect();
        assert_eq!(labels, ["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈"]);
        for category in bank.categories() {
            assert!(bank.in_category(category).count() >= 3, "{category}");
        }
    }

    #[test]
    fn the_tutorials_wrong_answers_are_fixed() {
        let bank = QuestionBank::embedded().unwrap();
        let markup = bank.get("web-not-markup").unwrap();
        assert_eq!(markup.answer, "JSON");
        assert!(bank
            .in_category(bank.category("computer").unwrap())
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
    fn a_bank_without_categories_gets_the_tutorials_three() {
        let bank = QuestionBank::from_toml(ONE_EACH, "t").unwrap();
        let ids: Vec<&str> = bank.categories().iter().map(Category::id).collect();
        assert_eq!(ids, ["python", "web", "computer"]);
    }

    const HISTORY: &str = r#"
[[category]]
id = "history"
label = "역사 퀴즈"
[[category]]
id = "art"
label = "미술 퀴즈"
[[question]]
id = "h1"
category = "history"
text = "훈민정음을 만든 왕은?"
choices = ["세종", "태조"]
answer = "세종"
explanation = "1443년, 세종입니다."
[[question]]
id = "a1"
category = "art"
text = "모나리자를 그린 사람은?"
choices = ["다빈치", "고흐"]
answer = "다빈치"
explanation = "레오나르도 다빈치입니다."
"#;

    #[test]
    fn an_operator_defines_categories_in_the_file_in_menu_order() {
        let bank = QuestionBank::from_toml(HISTORY, "history.toml").unwrap();
        let labels: Vec<&str> = bank.categories().iter().map(Category::label).collect();
        assert_eq!(labels, ["역사 퀴즈", "미술 퀴즈"]);
        assert_eq!(bank.category_by_label("역사 퀴즈").unwrap().id(), "history");
        assert_eq!(bank.in_category(&bank.categories()[0]).count(), 1);
    }

    #[test]
    fn bad_categories_are_named_in_the_error() {
        let unknown = HISTORY.replacen("category = \"art\"", "category = \"music\"", 1);
        assert!(
            error_of(&unknown).contains("category 'music' is not one of"),
            "{}",
            error_of(&unknown)
        );
        let dup_label = HISTORY.replacen("label = \"미술 퀴즈\"", "label = \"역사 퀴즈\"", 1);
        assert!(error_of(&dup_label).contains("category 'art': the label '역사 퀴즈' is used"));
        let long = HISTORY.replacen(
            "label = \"미술 퀴즈\"",
            "label = \"아주 아주 긴 미술 퀴즈 버튼\"",
            1,
        );
        assert!(
            error_of(&long).contains("category 'art': the label has 16 characters"),
            "{}",
            error_of(&long)
        );
        let score = HISTORY.replacen("label = \"미술 퀴즈\"", "label = \"내 점수\"", 1);
        assert!(error_of(&score).contains("score button"));
        let empty = HISTORY.replacen("category = \"art\"", "category = \"history\"", 1);
        assert!(error_of(&empty).contains("no question in category 'art'"));
        let mut many = String::new();
        for i in 0..10 {
            many.push_str(&format!(
                "[[category]]\nid = \"c{i}\"\nlabel = \"퀴즈 {i}\"\n"
            ));
        }
        assert!(error_of(&format!("{many}{HISTORY}")).contains("at most 9 categories"));
    }

    #[test]
    fn a_choice_or_label_that_asks_for_help_is_refused() {
        let choice = HISTORY.replacen(r#"["세종", "태조"]"#, r#"["세종", "?"]"#, 1);
        assert!(
            error_of(&choice).contains("choice '?' asks for help"),
            "{}",
            error_of(&choice)
        );
        let label = HISTORY.replacen("label = \"미술 퀴즈\"", "label = \"도움말\"", 1);
        assert!(
            error_of(&label).contains("category 'art': the label '도움말' asks for help"),
            "{}",
            error_of(&label)
        );
    }

    #[test]
    fn a_choice_equal_to_a_category_button_is_refused() {
        let bad = HISTORY.replacen(r#"["세종", "태조"]"#, r#"["세종", "미술 퀴즈"]"#, 1);
        assert!(error_of(&bad).contains("home-keyboard button"));
    }

    #[test]
    fn unknown_fields_and_categories_are_refused() {
        assert!(
            error_of(&ONE_EACH.replacen("category = \"web\"", "category = \"art\"", 1))
                .contains("category 'art' is not one of")
        );
        assert!(
            error_of(&ONE_EACH.replacen("id = \"w\"", "id = \"w\"\nhint = \"x\"", 1))
                .contains("not valid TOML")
        );
    }
}
