//! The store contract: one suite, written once, run against [`MemoryStore`], against
//! [`RedisStore`] on a real `redis-server`, and against [`RedisStore`] on a real
//! six-node Redis Cluster (`on_memory::*`, `on_redis::*`, and `on_cluster`, which runs
//! the whole suite on one cluster, each test under its own key prefix), then the
//! checks that only make sense for one of them (`only_redis::*`, `only_memory::*`).
//!
//! The files: [`subject`] (the stores under test) and [`fixtures`] (shared helpers),
//! then the contract by concern: sessions and friends, quiz, groups, votes, growth,
//! changes (creating and joining), moves (what a message does to a group).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kakaobot::lunch::{
    AddOutcome, ChangeOutcome, GroupChange, GroupEdit, LunchRequest, LunchSession, NextStep,
    SessionWrite, StepMove, StepOutcome, VoteOutcome,
};
use kakaobot::store::{
    AnswerCheck, Keys, MemoryStore, QuizChange, QuizSession, RedisConnection, RedisStore,
    RedisTarget, RedisTimeouts, Score, Store, StoreError, DEFAULT_KEY_TTL, SESSION_TTL, VOTE_TTL,
};
use kakaobot::user::{BotName, UserKey};
use redis::aio::MultiplexedConnection;

use crate::helpers::{connect, unique_prefix, RedisCluster, RedisServer, Steps};

mod changes;
mod fixtures;
mod groups;
mod growth;
mod moves;
mod only_memory;
mod only_redis;
mod quiz;
mod sessions;
mod subject;
mod votes;

use self::changes::*;
use self::fixtures::*;
use self::groups::*;
use self::growth::*;
use self::moves::*;
use self::quiz::*;
use self::sessions::*;
use self::subject::*;
use self::votes::*;

const DAY: &str = "2026-11-21";
const NEXT_DAY: &str = "2026-11-22";
/// The contract is about what the store does, not how fast: the suite runs beside the
/// rest of the tests, and five hundred voters at once on a busy machine can wait for
/// Redis longer than the service's own limit (half a second) allows.
const PATIENT: RedisTimeouts = RedisTimeouts {
    connect: Duration::from_secs(5),
    response: Duration::from_secs(30),
};

/// Runs each listed contract test once on each store.
macro_rules! contract_suite {
    ($($test:ident),+ $(,)?) => {
        mod on_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Subject::memory()).await;
                }
            )+
        }

        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Subject::redis(stringify!($test)).await).await;
                }
            )+
        }

        mod on_cluster {
            /// One cluster for the whole suite (forming one takes seconds); every test
            /// gets its own key prefix on it, and the cluster is removed at the end.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_whole_contract_holds_on_a_six_node_cluster() {
                let cluster = std::sync::Arc::new(crate::helpers::RedisCluster::start());
                $(
                    super::$test(
                        &super::Subject::cluster(&cluster, stringify!($test)).await
                    ).await;
                )+
            }
        }
    };
}

contract_suite!(
    the_store_answers_a_ping,
    a_session_lasts_until_it_expires,
    clearing_a_session_forgets_only_that_bots_session_and_can_be_repeated,
    a_session_can_be_replaced_and_ended,
    friends_are_recorded_per_bot_and_idempotently,
    removing_a_friend_forgets_their_session_with_that_bot,
    a_new_quiz_user_has_no_session_no_score_and_nothing_asked,
    a_quiz_change_is_applied_in_full,
    an_empty_quiz_change_changes_nothing,
    asked_questions_are_kept_per_category_and_per_user,
    a_reset_forgets_only_its_category_and_comes_before_the_new_mark,
    scores_and_asked_questions_outlive_the_session,
    an_answer_to_the_pending_question_is_judged_once,
    an_answer_to_a_question_no_longer_pending_changes_nothing,
    concurrent_answers_to_one_question_count_once,
    a_user_without_a_group_has_no_membership,
    creating_a_group_makes_the_creator_its_member,
    a_taken_group_code_is_refused_and_changes_nothing,
    joining_an_unknown_group_changes_nothing,
    joining_a_group_ends_the_session_and_leaves_the_previous_group,
    restaurants_are_listed_in_the_order_they_were_added_per_group,
    a_duplicate_restaurant_is_refused_whatever_its_case,
    a_full_list_refuses_more_restaurants,
    removing_a_restaurant_takes_it_off_the_list,
    a_vote_for_an_unknown_restaurant_changes_nothing,
    a_vote_is_recorded_and_ends_the_session,
    a_new_vote_moves_the_old_one,
    votes_are_kept_per_day,
    the_tally_lists_every_restaurant_in_list_order_and_skips_removed_ones,
    votes_in_another_group_are_not_counted,
    votes_expire_after_the_vote_ttl_but_the_group_and_its_list_stay,
    group_codes_and_days_with_separator_characters_are_kept_apart,
    five_hundred_concurrent_voters_are_each_counted_once_with_their_last_vote,
    a_user_creating_groups_over_and_over_leaves_only_their_last_group,
    a_group_is_removed_once_its_last_member_leaves,
    a_create_message_makes_the_group_and_leaves_the_old_one,
    a_create_over_the_allowance_leaves_everything_as_it_was,
    a_create_with_a_taken_code_changes_nothing,
    a_typed_code_joins_only_while_a_code_is_awaited,
    a_join_message_makes_the_member_and_leaves_the_old_group,
    a_join_with_an_unknown_code_keeps_the_group_and_the_step_awaiting_a_code,
    a_join_over_the_allowance_keeps_the_group_and_admits_nobody,
    a_join_awaited_in_another_process_is_made_all_the_same,
    a_code_typed_after_another_process_ended_the_step_joins_nothing,
    a_removed_restaurant_is_nobodys_vote_and_re_adding_it_starts_from_nothing,
    a_session_step_written_with_the_read_is_made_as_the_message_decides,
    an_allowance_refuses_uses_past_its_maximum_per_user_and_budget,
    a_choosing_or_removing_step_starts_only_when_the_group_lists_a_restaurant,
    the_move_made_for_the_members_step_applies_and_starts_the_step_it_names,
    a_tapped_vote_or_removal_applies_whatever_the_step_and_needs_a_group,
    a_question_is_asked_fresh_first_and_a_category_starts_over_without_the_pending_one,
    an_answer_is_judged_only_against_the_questions_its_choice_answers,
    a_member_who_moves_to_another_group_takes_todays_vote_out_of_the_old_one,
    a_new_group_under_a_freed_code_starts_with_no_votes,
);
