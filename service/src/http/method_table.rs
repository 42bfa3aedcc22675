//! Which methods each path allows, read from the OpenAPI document the API generates, so
//! a 405 can carry the `Allow` header HTTP requires (RFC 9110 §15.5.6) without a second
//! list of routes to keep in step with `api/`.

use poem::http::{header, HeaderValue, StatusCode};
use poem::Response;

/// Path templates (`/{bot}/friend/{user_key}`) with the methods each serves.
#[derive(Debug, Default)]
pub struct MethodTable {
    routes: Vec<(Vec<Segment>, Vec<String>)>,
}

#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

impl MethodTable {
    /// Reads the `paths` of an OpenAPI document.
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let routes = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(template, item)| {
                let segments = split(template)
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Segment::Param
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                let methods = item
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(method, _)| method.to_ascii_uppercase())
                    .collect();
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods `path` allows, as an `Allow` value (`DELETE, POST`); `None` when no
    /// route matches it.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let asked: Vec<&str> = split(path).collect();
        let mut methods: Vec<&str> = self
            .routes
            .iter()
            .filter(|(segments, _)| {
                segments.len() == asked.len()
                    && segments.iter().zip(&asked).all(|(s, a)| match s {
                        Segment::Param => true,
                        Segment::Literal(l) => l == a,
                    })
            })
            .flat_map(|(_, m)| m.iter().map(String::as_str))
            .collect();
        methods.sort_unstable();
        methods.dedup();
        (!methods.is_empty()).then(|| methods.join(", "))
    }

    /// Adds `Allow` to `resp` if it is a 405 to a request for `path`.
    pub fn add_allow(&self, path: &str, resp: &mut Response) {
        if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
            return;
        }
        if let Some(value) = self
            .allowed(path)
            .and_then(|a| HeaderValue::from_str(&a).ok())
        {
            resp.headers_mut().insert(header::ALLOW, value);
        }
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> MethodTable {
        MethodTable::from_spec(&serde_json::json!({"paths": {
            "/friend": {"post": {}, "delete": {}},
            "/friend/{user_key}": {"delete": {}},
            "/{bot}/friend": {"post": {}, "delete": {}},
            "/{bot}/skill": {"post": {}},
            "/health": {"get": {}}
        }}))
    }

    #[test]
    fn a_path_allows_the_methods_of_every_template_it_matches() {
        let t = table();
        assert_eq!(t.allowed("/quiz/skill").as_deref(), Some("POST"));
        assert_eq!(t.allowed("/friend").as_deref(), Some("DELETE, POST"));
        // Both `/friend/{user_key}` and `/{bot}/friend` match.
        assert_eq!(t.allowed("/friend/friend").as_deref(), Some("DELETE, POST"));
        assert_eq!(t.allowed("/health/").as_deref(), Some("GET"));
        assert_eq!(t.allowed("/nothing/here/at/all"), None);
    }

    #[test]
    fn the_generated_document_gives_every_kakao_route_its_methods() {
        let spec: serde_json::Value =
            serde_json::from_str(&crate::startup::spec_json().unwrap()).unwrap();
        let t = MethodTable::from_spec(&spec);
        assert_eq!(t.allowed("/lunch/keyboard").as_deref(), Some("GET"));
        assert_eq!(t.allowed("/quiz/message").as_deref(), Some("POST"));
        assert_eq!(t.allowed("/skill").as_deref(), Some("POST"));
        assert_eq!(t.allowed("/quiz/chat_room/abc").as_deref(), Some("DELETE"));
    }
}
