//! The quiz bot (tutorial 1, done right): an answer is judged against the question
//! *this user* was asked, which the store remembers for Kakao's 10-minute context.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use rand::seq::SliceRandom;

use super::question_bank::{Category, Question, QuestionBank, MY_SCORE};
use super::{Bot, Button, Keyboard, Reply, Tap};
use crate::store::{AnswerCheck, QuizChange, QuizSession, Store, StoreError};
use crate::user::UserKey;

/// How long a question waits for its answer: Kakao's context window, which the
/// store's session expiry follows.
const ANSWER_MINUTES: u32 = 10;

pub struct QuizBot {
    /// Replaced whole by a reload; each message works on the bank it started with.
    bank: RwLock<Arc<QuestionBank>>,
}

/// What the user asked for, decided from the message alone before anything is loaded.
enum Intent<'a> {
    Score,
    Ask(&'a Category),
    /// Typed (or tapped without meaning attached): judged against the pending question.
    Answer(&'a str),
    /// Tapped on a question's keyboard: judged against that question only.
    TappedAnswer {
        question: &'a str,
        choice: &'a str,
    },
}

impl QuizBot {
    pub fn new(bank: QuestionBank) -> Self {
        Self {
            bank: RwLock::new(Arc::new(bank)),
        }
    }

    /// The bank now in use.
    pub fn bank(&self) -> Arc<QuestionBank> {
        // A poisoned lock still holds a whole bank: a replace is a single assignment.
        self.bank
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Uses `bank` from the next message on; messages already being answered finish
    /// with the bank they started with.
    pub fn replace_bank(&self, bank: QuestionBank) {
        *self
            .bank
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(bank);
    }

    /// Which pending questions `choice` answers, and which of them rightly: for a tap,
    /// only the question the button belonged to; typed, every question offering it.
    /// Told this up front, the store finds the pending question and judges it in one
    /// call. (A scan of the bank: tens of questions, a few choices each.)
    fn answer_check(
        bank: &QuestionBank,
        choice: &str,
        tapped_question: Option<&str>,
    ) -> AnswerCheck {
        let mut check = AnswerCheck {
            tapped: tapped_question.map(str::to_owned),
            ..Default::default()
        };
        let offered = bank
            .categories()
            .iter()
            .flat_map(|category| bank.in_category(category))
            .filter(|q| tapped_question.is_none_or(|t| t == q.id))
            .filter(|q| q.choices.iter().any(|c| c == choice));
        for question in offered {
            check.valid_for.push(question.id.clone());
            if question.answer == choice {
                check.correct_for.push(question.id.clone());
            }
        }
        check
    }

    /// The bank's categories, in order, then `내 점수`.
    pub fn home_keyboard(bank: &QuestionBank) -> Keyboard {
        let mut labels: Vec<&str> = bank.categories().iter().map(Category::label).collect();
        labels.push(MY_SCORE);
        Keyboard::buttons(labels)
    }

    /// How to use the quiz, naming the bank's categories.
    fn help_text(bank: &QuestionBank) -> String {
        let categories: Vec<String> = bank
            .categories()
            .iter()
            .map(|c| format!("'{}'", c.label()))
            .collect();
        format!(
            "퀴즈 봇 사용법이에요.\n\
             • 문제 받기: {} 중 하나를 누르면 문제가 나와요.\n\
             • 답하기: 보기 버튼을 누르거나 보기를 그대로 입력하면 바로 채점하고 해설을 알려 드려요. \
             문제는 {ANSWER_MINUTES}분 동안 답을 기다려요.\n\
             • '{MY_SCORE}': 지금까지 푼 문제 수와 맞힌 문제 수를 보여 드려요.\n\
             같은 분야에서는 모든 문제를 한 번씩 풀 때까지 같은 문제가 다시 나오지 않아요. \
             이 안내는 언제든 '도움말'을 입력하면 다시 볼 수 있어요.",
            categories.join(", ")
        )
    }

    /// A question's choices, each carrying the question it answers.
    fn choices_keyboard(question: &Question) -> Keyboard {
        Keyboard::Buttons(
            question
                .choices
                .iter()
                .map(|choice| {
                    Button::item(
                        choice.clone(),
                        Tap::Answer {
                            question: question.id.clone(),
                            choice: choice.clone(),
                        },
                    )
                })
                .collect(),
        )
    }

    async fn score(
        &self,
        bank: &QuestionBank,
        user: &UserKey,
        store: &dyn Store,
    ) -> Result<Reply, StoreError> {
        let state = store.quiz_load(user, None).await?;
        let s = state.score;
        let text = if s.answered == 0 {
            "아직 푼 문제가 없어요. 아래에서 퀴즈를 골라 보세요!".to_owned()
        } else {
            format!(
                "지금까지 {}문제 중 {}문제를 맞혔어요. (정답률 {}%)",
                s.answered,
                s.correct,
                s.correct * 100 / s.answered
            )
        };
        Ok(Reply::new(text, Self::home_keyboard(bank)))
    }

    async fn ask(
        &self,
        bank: &QuestionBank,
        user: &UserKey,
        category: &Category,
        store: &dyn Store,
    ) -> Result<Reply, StoreError> {
        // The store takes the first question of this random order that the user has
        // not been asked (or, once all were, the first that is not the pending one):
        // a uniform pick among the fresh questions, decided and recorded in one call.
        let mut candidates: Vec<QuizSession> = bank
            .in_category(category)
            .map(|q| QuizSession {
                category: category.id().to_owned(),
                question_id: q.id.clone(),
            })
            .collect();
        candidates.shuffle(&mut rand::rng());
        let asked = store.quiz_ask(user, category.id(), &candidates).await?;
        let Some(question) = bank.get(&asked.question_id) else {
            return Err(StoreError::Inconsistent(format!(
                "asked question {:?} is not one of the candidates",
                asked.question_id
            )));
        };

        let intro = if asked.restarted {
            "이 분야의 문제를 모두 풀었어요! 처음부터 다시 낼게요.\n\n"
        } else {
            ""
        };
        Ok(Reply::new(
            format!("{intro}[{}] {}", category.label(), question.text),
            Self::choices_keyboard(question),
        ))
    }

    /// Judges `choice`. A typed answer (`tapped_question` is `None`) is judged against
    /// the pending question; a tapped one against the question its button belonged
    /// to, so a tap on an old message never scores against a newer question.
    async fn answer(
        &self,
        bank: &QuestionBank,
        user: &UserKey,
        choice: &str,
        tapped_question: Option<&str>,
        store: &dyn Store,
    ) -> Result<Reply, StoreError> {
        let state = store
            .quiz_judge(user, &Self::answer_check(bank, choice, tapped_question))
            .await?;
        let pending = state
            .session
            .as_ref()
            .and_then(|s| Some((s, bank.get(&s.question_id)?)));
        if let (Some(tapped), Some((asked, question))) = (tapped_question, pending) {
            if asked.question_id != tapped {
                return Ok(Reply::new(
                    format!(
                        "이전 문제의 보기를 누르셨어요. 지금 풀고 있는 문제는 이거예요.\n\n{}",
                        question.text
                    ),
                    Self::choices_keyboard(question),
                ));
            }
        }
        let Some((_, question)) = pending else {
            // No pending question: a stale button after the context expired, a
            // question removed from the bank since, a second tap, or just chat.
            // Only a session naming a question the bank no longer has (after the bank
            // changed) costs this second round trip.
            if state.session.is_some() {
                store
                    .quiz_save(
                        user,
                        &QuizChange {
                            session: Some(None),
                            ..Default::default()
                        },
                    )
                    .await?;
            }
            let no_question = format!(
                "지금 풀고 있는 문제가 없어요. 문제는 {ANSWER_MINUTES}분이 지나면 사라지니 아래에서 퀴즈를 다시 골라 주세요. 사용법이 궁금하면 '도움말'을 입력해 보세요."
            );
            let text = if state.session.is_some() {
                // The bank was reloaded without the question this user was answering.
                "문제 목록이 바뀌어서 풀던 문제가 빠졌어요. 아래에서 새 퀴즈를 골라 주세요."
            } else if tapped_question.is_some() {
                "이미 채점했거나 시간이 지난 문제예요. 아래에서 다음 퀴즈를 골라 주세요."
            } else {
                &*no_question
            };
            return Ok(Reply::new(text, Self::home_keyboard(bank)));
        };
        if !question.choices.iter().any(|c| c == choice) {
            return Ok(Reply::new(
                format!("보기 중에서 골라 주세요.\n\n{}", question.text),
                Self::choices_keyboard(question),
            ));
        }

        let correct = choice == question.answer;
        if state.counted.is_none() {
            // The same answer tapped twice: the first tap was judged and counted.
            return Ok(Reply::new(
                "이미 채점한 문제예요. 아래에서 다음 퀴즈를 골라 주세요.",
                Self::home_keyboard(bank),
            ));
        }
        let answered = state.score.answered + 1;
        let right = state.score.correct + u64::from(correct);
        let verdict = if correct {
            "정답입니다! 🎉".to_owned()
        } else {
            format!("오답입니다. 정답은 '{}'입니다.", question.answer)
        };
        Ok(Reply::new(
            format!(
                "{verdict}\n{}\n\n(지금까지 {answered}문제 중 {right}문제 정답)",
                question.explanation
            ),
            Self::home_keyboard(bank),
        ))
    }
}

#[async_trait]
impl Bot for QuizBot {
    fn home(&self) -> Keyboard {
        Self::home_keyboard(&self.bank())
    }

    fn help(&self) -> Reply {
        let bank = self.bank();
        Reply::new(Self::help_text(&bank), Self::home_keyboard(&bank))
    }

    async fn reply(
        &self,
        user: &UserKey,
        text: &str,
        tap: Option<&Tap>,
        store: &dyn Store,
    ) -> Result<Reply, StoreError> {
        let bank = self.bank();
        let text = text.trim();
        let intent = if let Some(Tap::Answer { question, choice }) = tap {
            Intent::TappedAnswer { question, choice }
        } else if text == MY_SCORE {
            Intent::Score
        } else if let Some(category) = bank.category_by_label(text) {
            Intent::Ask(category)
        } else {
            Intent::Answer(text)
        };
        match intent {
            Intent::Score => self.score(&bank, user, store).await,
            Intent::Ask(category) => self.ask(&bank, user, category, store).await,
            Intent::Answer(text) => self.answer(&bank, user, text, None, store).await,
            Intent::TappedAnswer { question, choice } => {
                self.answer(&bank, user, choice, Some(question), store)
                    .await
            }
        }
    }
}
