//! Writing answers: the headers Entra puts on its JSON, HTML pages, and raw bytes for the answers tiny_http
//! would refuse to form.

use crate::protocol::EntraError;
use crate::util;
use serde_json::Value;
use std::io::{self, Write};
use tiny_http::{Header, Request, Response, StatusCode};

pub fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("static header")
}

/// The headers on Entra's JSON answers (seen with `curl -i` in azure-cli #22251 and in azure-sdk-for-python
/// #32375's log), plus a fresh request id as the service sends.
pub fn json_headers() -> Vec<Header> {
    vec![
        header("Content-Type", "application/json; charset=utf-8"),
        header("Cache-Control", "no-store, no-cache"),
        header("Pragma", "no-cache"),
        header("Expires", "-1"),
        header("x-ms-request-id", &util::guid()),
    ]
}

pub fn bytes_response(status: u16, headers: Vec<Header>, body: Vec<u8>) -> Response<io::Cursor<Vec<u8>>> {
    let len = body.len();
    Response::new(StatusCode(status), headers, io::Cursor::new(body), Some(len), None)
}

pub fn send_json(rq: Request, status: u16, v: &Value) {
    let _ = rq.respond(bytes_response(status, json_headers(), v.to_string().into_bytes()));
}

pub fn send_html(rq: Request, status: u16, html: String) {
    let h = vec![header("Content-Type", "text/html; charset=utf-8"), header("Cache-Control", "no-store")];
    let _ = rq.respond(bytes_response(status, h, html.into_bytes()));
}

/// Sends a JSON body that is already text (a recorded answer), byte for byte, with Entra's JSON headers.
pub fn send_json_text(rq: Request, status: u16, body: &str) {
    let _ = rq.respond(bytes_response(status, json_headers(), body.as_bytes().to_vec()));
}

/// Sends one of Entra's error answers with its status.
pub fn send_error(base_url: &str, rq: Request, e: &EntraError) {
    send_json(rq, e.status, &e.body(base_url));
}

pub fn send_text(rq: Request, status: u16, text: &str) {
    let _ = rq.respond(bytes_response(status, vec![header("Content-Type", "text/plain; charset=utf-8")], text.as_bytes().to_vec()));
}

/// Writes raw bytes on the connection (for answers tiny_http would refuse to form).
pub fn raw_writer(rq: Request) -> Box<dyn Write + Send> {
    rq.into_writer()
}

pub fn raw_head(status: &str, content_length: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store, no-cache\r\nContent-Length: {content_length}\r\n\r\n"
    )
    .into_bytes()
}
