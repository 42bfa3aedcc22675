//! Route templates: poem names a matched route by its own pattern (`/:param0/skill`);
//! the metrics and the access log name it as the OpenAPI document does
//! (`/{bot}/skill`), which the API alone knows.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};

/// poem's route `pattern` as the OpenAPI document writes it: the document's template
/// for it (`/:param0/skill` is `/{bot}/skill`), or the pattern itself for a route the
/// document does not list (`/openapi.json`). Patterns come from the code, never from
/// a client, so the few labels are kept for the life of the process.
pub fn route_template(pattern: &str) -> &'static str {
    static LABELS: LazyLock<RwLock<HashMap<Box<str>, &'static str>>> =
        LazyLock::new(Default::default);
    if let Some(label) = LABELS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(pattern)
    {
        return label;
    }
    let label: &'static str = match template_of(pattern, api_templates()) {
        Some(template) => template,
        None => Box::leak(pattern.into()),
    };
    LABELS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(pattern.into(), label);
    label
}

/// The path templates of the OpenAPI document (`/{bot}/friend/{user_key}`).
fn api_templates() -> &'static [&'static str] {
    static TEMPLATES: OnceLock<Vec<&'static str>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        <super::Api as poem_openapi::OpenApi>::meta()
            .into_iter()
            .flat_map(|api| api.paths)
            .map(|path| &*Box::leak(path.path.into_boxed_str()))
            .collect()
    })
}

/// The template whose segments match `pattern`'s: literals equal, a `:name` segment
/// where the template has a `{name}` (whatever either name is: poem-openapi numbers
/// its parameters).
fn template_of(pattern: &str, templates: &[&'static str]) -> Option<&'static str> {
    let asked: Vec<&str> = pattern.split('/').collect();
    templates.iter().copied().find(|template| {
        let segments: Vec<&str> = template.split('/').collect();
        segments.len() == asked.len()
            && segments.iter().zip(&asked).all(|(t, p)| {
                let template_param = t.starts_with('{') && t.ends_with('}');
                let pattern_param = p.starts_with(':');
                template_param == pattern_param && (template_param || t == p)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_pattern_is_labelled_as_the_openapi_document_writes_it() {
        assert_eq!(route_template("/:param0/skill"), "/{bot}/skill");
        assert_eq!(
            route_template("/:param0/friend/:param1"),
            "/{bot}/friend/{user_key}"
        );
        assert_eq!(route_template("/friend/:param0"), "/friend/{user_key}");
        assert_eq!(route_template("/skill"), "/skill");
        assert_eq!(route_template("/openapi.json"), "/openapi.json");
    }
}
