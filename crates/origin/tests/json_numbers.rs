//! The JSON API keeps numbers exactly as sent, over a real socket and a
//! real SQLite file.

use reqwest::{Method, StatusCode};

use crate::api_support::Api;

/// Found by `fuzz/` (target `api_json`): serde_json's default float parser
/// may land one unit in the last place away from the number in the text, so
/// the API stored (and served, and hashed into the ETag) `…398e-144` for a
/// client's `…397e-144`. The workspace enables `float_roundtrip`.
#[tokio::test]
async fn a_json_number_is_stored_exactly_as_the_client_sent_it() {
    let api = Api::start_with(Vec::new()).await;
    // Each is written as serde_json writes its f64 (the shortest digits),
    // so reading and writing it back must give the same text.
    let documents = [
        r#"{"x":5.590110559913397e-144}"#,
        r#"{"x":1.1082416e-317}"#,
        r#"[0.1,2.2250738585072014e-308,1.7976931348623157e+308,-3.0000000000000004]"#,
    ];
    for (i, document) in documents.into_iter().enumerate() {
        let path = format!("/api/numbers/n{i}");
        let put = api
            .request(Method::PUT, &path)
            .header("content-type", "application/json")
            .body(document)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::CREATED, "{document}");
        assert_eq!(put.text().await.unwrap(), document);
        let get = api.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(get.text().await.unwrap(), document);
    }
}
