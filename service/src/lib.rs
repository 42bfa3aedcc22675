//! kakaobot
