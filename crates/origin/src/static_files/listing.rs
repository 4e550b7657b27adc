//! The HTML listing of a directory without `index.html`, when enabled.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::request_path::SEGMENT;

/// Renders the listing of `dir`, whose request path is `location` (ends
/// in `/`). Hidden entries are left out, as they are never served.
/// Sorted by name so the same directory always renders the same bytes
/// (and so gets the same entity-tag).
pub(crate) fn render(dir: &Path, location: &str) -> io::Result<String> {
    let mut entries: Vec<(String, bool)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        entries.push((name, is_dir));
    }
    entries.sort();
    let title = escape(location);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if location != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in entries {
        let slash = if is_dir { "/" } else { "" };
        let href: String = percent_encoding::utf8_percent_encode(&name, SEGMENT).collect();
        let _ = writeln!(
            html,
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>",
            escape(&href),
            escape(&name)
        );
    }
    html.push_str("</ul>\n</body></html>\n");
    Ok(html)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("<b>&.txt"), b"").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join(".hidden"), b"").unwrap();
        let html = super::render(dir.path(), "/x/").unwrap();
        assert!(html.contains("&lt;b&gt;&amp;.txt"), "{html}");
        assert!(html.contains("href=\"sub/\""), "{html}");
        assert!(!html.contains(".hidden"), "{html}");
    }
}
