//! kakaobot: a KakaoTalk smart-chat bot service.
pub mod store;
pub mod user;
