//! `--assets`: the scripts, stylesheets and images a checked HTML page
//! links to, found with an HTML5 parser (scraper, html5ever underneath;
//! never regular expressions, which misread comments, `<template>`s and
//! attribute quoting). Pure: a page's URL and bytes in, absolute URLs out.

use std::collections::HashSet;

use reqwest::Url;
use scraper::{Html, Selector};

use crate::model::RecordedResponse;

/// The most assets checked per page; the rest are counted and reported as
/// left out, so one page with hundreds of images cannot turn a check into
/// thousands of requests.
pub const MAX_ASSETS: usize = 50;

/// The assets one page links to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkedAssets {
    /// The assets to check, absolute, without fragments, in document
    /// order, each once, at most [`MAX_ASSETS`].
    pub urls: Vec<String>,
    /// How many distinct assets the page links to, checked or not.
    pub found: usize,
}

impl LinkedAssets {
    /// Whether some assets were left out by [`MAX_ASSETS`].
    pub fn truncated(&self) -> bool {
        self.found > self.urls.len()
    }
}

/// Whether a response is an HTML page worth parsing: `text/html` or
/// `application/xhtml+xml`, and not content-coded (the checker never
/// decodes bodies).
pub fn is_html(response: &RecordedResponse) -> bool {
    let media_type = response
        .get("content-type")
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    let coded = response
        .get("content-encoding")
        .is_some_and(|c| !c.trim().eq_ignore_ascii_case("identity"));
    matches!(media_type.as_deref(), Some("text/html" | "application/xhtml+xml")) && !coded
}

/// The `script[src]`, `link[rel~=stylesheet][href]` and `img[src]` URLs of
/// `html`, resolved against `page` (or the document's first
/// `<base href>`), keeping only `http:` and `https:` ones other than the
/// page itself, same-origin or not.
pub fn linked_assets(page: &Url, html: &str) -> LinkedAssets {
    let document = Html::parse_document(html);
    let base = first_attribute(&document, "base[href]", "href")
        .and_then(|href| page.join(href.trim()).ok())
        .unwrap_or_else(|| page.clone());
    let mut page_itself = page.clone();
    page_itself.set_fragment(None);
    let mut seen: HashSet<String> = HashSet::new();
    let mut urls: Vec<String> = Vec::new();
    // One pass in document order over the three kinds of element.
    let selector = selector("script[src], link[href], img[src]");
    for element in document.select(&selector) {
        // A <template>'s content is inert: browsers load nothing in it.
        let inert = element
            .ancestors()
            .any(|node| node.value().as_element().is_some_and(|e| e.name() == "template"));
        if inert {
            continue;
        }
        let value = element.value();
        let reference = match value.name() {
            "link" => {
                let stylesheet = value.attr("rel").is_some_and(|rel| {
                    rel.split_ascii_whitespace()
                        .any(|t| t.eq_ignore_ascii_case("stylesheet"))
                });
                if !stylesheet {
                    continue;
                }
                value.attr("href")
            }
            _ => value.attr("src"),
        };
        let Some(reference) = reference.map(str::trim).filter(|r| !r.is_empty()) else {
            continue;
        };
        let Ok(mut url) = base.join(reference) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        url.set_fragment(None);
        if url != page_itself && seen.insert(url.to_string()) && urls.len() < MAX_ASSETS {
            urls.push(url.to_string());
        }
    }
    LinkedAssets {
        urls,
        found: seen.len(),
    }
}

fn selector(text: &str) -> Selector {
    // The selectors are constants of this module; a typo is caught by its tests.
    Selector::parse(text).unwrap_or_else(|e| panic!("invalid selector {text:?}: {e}"))
}

fn first_attribute<'a>(document: &'a Html, css: &str, name: &str) -> Option<&'a str> {
    document
        .select(&selector(css))
        .next()
        .and_then(|element| element.value().attr(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://example.test/blog/post.html").unwrap()
    }

    #[test]
    fn scripts_stylesheets_and_images_in_document_order() {
        let html = r#"<!doctype html><html><head>
            <link rel="stylesheet" href="/site.css">
            <link rel="icon" href="/favicon.ico">
            <link rel="preload stylesheet" href="fonts.css">
            <script src="app.js#v2"></script>
            <script>var notAnAsset = "<script src=x.js>";</script>
            <!-- <img src="commented-out.png"> -->
            </head><body>
            <img src="https://cdn.example.net/logo.png">
            <img src="data:image/png;base64,AAAA">
            <img src="/site.css">
            <img src="">
            <template><img src="in-template.png"></template>
            <a href="/not-an-asset.html">link</a>
            </body></html>"#;
        let assets = linked_assets(&page(), html);
        assert_eq!(
            assets.urls,
            [
                "https://example.test/site.css",
                "https://example.test/blog/fonts.css",
                "https://example.test/blog/app.js",
                "https://cdn.example.net/logo.png",
            ]
        );
        assert_eq!(assets.found, 4);
        assert!(!assets.truncated());
    }

    #[test]
    fn base_href_resolves_relative_references() {
        let html = r#"<base href="https://static.example.test/v3/"><img src="a.png">"#;
        assert_eq!(
            linked_assets(&page(), html).urls,
            ["https://static.example.test/v3/a.png"]
        );
    }

    #[test]
    fn more_than_the_bound_is_counted_and_cut() {
        let html: String = (0..MAX_ASSETS + 7)
            .map(|i| format!("<img src=\"/i{i}.png\">"))
            .collect();
        let assets = linked_assets(&page(), &html);
        assert_eq!(assets.urls.len(), MAX_ASSETS);
        assert_eq!(assets.found, MAX_ASSETS + 7);
        assert!(assets.truncated());
        assert_eq!(assets.urls[0], "https://example.test/i0.png");
    }

    #[test]
    fn only_uncoded_html_is_parsed() {
        let html = RecordedResponse::new(200).header("content-type", "text/html; charset=utf-8");
        assert!(is_html(&html));
        assert!(!is_html(&html.clone().header("content-encoding", "gzip")));
        assert!(!is_html(
            &RecordedResponse::new(200).header("content-type", "text/css")
        ));
        assert!(!is_html(&RecordedResponse::new(200)));
    }
}
