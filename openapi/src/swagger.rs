//! Swagger UI pages that work offline: the vendored `swagger-ui-dist` files (assets/swagger-ui)
//! are compiled into the binary and either inlined into the page or served by name. Nothing
//! here may reference a CDN or any other network location.

/// The vendored Swagger UI version (npm `swagger-ui-dist`).
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

const BUNDLE_JS: &str = include_str!("../assets/swagger-ui/swagger-ui-bundle.js");
const STYLE_CSS: &str = include_str!("../assets/swagger-ui/swagger-ui.css");
const LICENSE: &str = include_str!("../assets/swagger-ui/LICENSE");
const BUNDLE_LICENSE: &str = include_str!("../assets/swagger-ui/swagger-ui-bundle.js.LICENSE.txt");

/// A static file of the docs page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwaggerAsset {
    /// The file's bytes.
    pub bytes: &'static [u8],
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

/// The vendored file named `name` (`swagger-ui-bundle.js`, `swagger-ui.css`, `LICENSE`,
/// `swagger-ui-bundle.js.LICENSE.txt`), for hosts that serve the assets separately and use
/// [`swagger_ui_html_linked`].
pub fn swagger_asset(name: &str) -> Option<SwaggerAsset> {
    let (text, content_type) = match name {
        "swagger-ui-bundle.js" => (BUNDLE_JS, "application/javascript; charset=utf-8"),
        "swagger-ui.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        "LICENSE" => (LICENSE, "text/plain; charset=utf-8"),
        "swagger-ui-bundle.js.LICENSE.txt" => (BUNDLE_LICENSE, "text/plain; charset=utf-8"),
        _ => return None,
    };
    Some(SwaggerAsset {
        bytes: text.as_bytes(),
        content_type,
    })
}

/// A self-contained Swagger UI page (about 1.9 MB: the JS and CSS are inlined) that loads the
/// document from `spec_url`. A relative `spec_url` is resolved against the page URL without
/// its trailing slash, so `openapi.json` works for a page at `/docs`, `/docs/`,
/// `/services/<name>/docs` and `/services/<name>/docs/` alike.
pub fn swagger_ui_html(title: &str, spec_url: &str) -> String {
    let head = format!("<style>{STYLE_CSS}</style>");
    let scripts = format!("<script>{BUNDLE_JS}</script>");
    page(title, spec_url, &head, &scripts)
}

/// A small Swagger UI page that loads `swagger-ui.css` and `swagger-ui-bundle.js` from
/// `assets_base` (for example `/docs/assets/`; serve them with [`swagger_asset`]).
pub fn swagger_ui_html_linked(title: &str, spec_url: &str, assets_base: &str) -> String {
    let base = html_escape(assets_base);
    let head = format!(r#"<link rel="stylesheet" href="{base}swagger-ui.css">"#);
    let scripts = format!(r#"<script src="{base}swagger-ui-bundle.js" charset="UTF-8"></script>"#);
    page(title, spec_url, &head, &scripts)
}

fn page(title: &str, spec_url: &str, head: &str, scripts: &str) -> String {
    let title = html_escape(title);
    let spec_url = js_string(spec_url);
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head}
<style>html{{box-sizing:border-box;overflow-y:scroll}}body{{margin:0;background:#fafafa}}</style>
</head>
<body>
<div id="swagger-ui"></div>
{scripts}
<script>
(function () {{
  var page = window.location.href.split("#")[0].split("?")[0].replace(/\/+$/, "");
  var url = new URL({spec_url}, page).toString();
  window.ui = SwaggerUIBundle({{
    url: url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayRequestDuration: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}})();
</script>
</body>
</html>
"##
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A JavaScript string literal that cannot end the surrounding `<script>` element.
fn js_string(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted.replace('<', "\\u003c").replace('>', "\\u003e")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_inlines_assets_and_references_no_network() {
        let html = swagger_ui_html("echo <docs>", "openapi.json");
        assert!(html.contains("echo &lt;docs&gt;"));
        assert!(html.contains(r#"new URL("openapi.json", page)"#));
        assert!(html.contains("SwaggerUIBundle"));
        assert!(html.len() > 1_000_000, "the JS bundle must be inlined");
        assert!(!html.contains("<script src="), "no external script");
        assert!(!html.contains("<link"), "no external stylesheet");
        assert!(!html.contains("sourceMappingURL=swagger-ui.css.map"));
    }

    #[test]
    fn spec_url_cannot_break_out_of_the_script() {
        let html = swagger_ui_html("t", "</script><script>alert(1)</script>");
        assert!(!html.contains("</script><script>alert"));
    }

    #[test]
    fn linked_page_and_assets() {
        let html = swagger_ui_html_linked("t", "openapi.json", "assets/");
        assert!(html.contains(r#"src="assets/swagger-ui-bundle.js""#));
        assert!(html.len() < 5_000);
        let js = swagger_asset("swagger-ui-bundle.js").unwrap();
        assert!(js.content_type.starts_with("application/javascript"));
        assert!(js.bytes.len() > 1_000_000);
        assert!(swagger_asset("swagger-ui.css").is_some());
        assert!(swagger_asset("../Cargo.toml").is_none());
    }
}
