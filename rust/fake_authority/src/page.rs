//! The device-login page for people (and browser tests): type the code, then "Sign in" or "Deny".
//! Plain HTML, no script; labelled controls, visible focus, text contrast above WCAG AA.

use crate::util::html_escape;

/// What the page reports after a submit.
pub enum Outcome<'a> {
    /// The form, with the code filled in when the link carried one (`verification_uri_complete`'s `?otc=`).
    Form {
        code: &'a str,
    },
    /// The code was not recognised (wrong, expired, used, or empty); the form is shown again.
    WrongCode(&'a str),
    SignedIn {
        user_code: &'a str,
    },
    Declined {
        user_code: &'a str,
    },
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#fff;color:#1b1b1b;margin:0;line-height:1.5}\
.banner{background:#5c2d00;color:#fff;padding:.75rem 1rem}\
.banner p{margin:0 auto;max-width:30rem}\
main{max-width:30rem;margin:2rem auto;padding:0 1rem}\
h1{font-size:1.6rem;margin:.5rem 0 1rem}\
label{display:block;font-weight:600;margin:1rem 0 .25rem}\
input{font:inherit;font-size:1.3rem;padding:.5rem;width:100%;box-sizing:border-box;border:2px solid #1b1b1b;border-radius:4px;letter-spacing:.1em;text-transform:uppercase}\
input[aria-invalid=true]{border-color:#a80000}\
.hint{color:#404040;font-size:.95rem;margin:.25rem 0 0}\
.actions{margin-top:1.25rem;display:flex;gap:.75rem}\
button{font:inherit;padding:.6rem 1.4rem;border:2px solid #0050b3;border-radius:4px;cursor:pointer}\
.primary{background:#0050b3;color:#fff}\
.secondary{background:#fff;color:#0050b3}\
input:focus-visible,button:focus-visible{outline:3px solid #1b1b1b;outline-offset:2px}\
.error{border-left:5px solid #a80000;background:#fde7e9;padding:.6rem .8rem;margin:1rem 0}\
.done{border-left:5px solid #107c10;background:#dff6dd;padding:.6rem .8rem;margin:1rem 0}\
.declined{border-left:5px solid #5c2d00;background:#fff4ce;padding:.6rem .8rem;margin:1rem 0}";

fn frame(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"color-scheme\" content=\"light\">\
<title>{title} – Local test authority</title><style>{STYLE}</style></head><body>\
<header class=\"banner\"><p><strong>Local test authority — not Microsoft.</strong> This page is served on this computer \
for tests and the demo of d365fo.interactive; no real account is used or signed in here.</p></header>\
<main>{body}</main></body></html>\n"
    )
}

fn form(error: Option<&str>, value: &str) -> String {
    // The error is tied to the field (aria-describedby) as well as announced (role=alert).
    let (alert, invalid, described_by) = match error {
        Some(msg) => (
            format!("<div class=\"error\" role=\"alert\" id=\"result\" data-result=\"wrong-code\">{msg}</div>"),
            "true",
            "result code-hint",
        ),
        None => (String::new(), "false", "code-hint"),
    };
    format!(
        "<h1>Enter code</h1>\
<p>Enter the code shown by the application (for example in PowerShell) to sign in to it.</p>{alert}\
<form method=\"post\" action=\"/devicelogin\">\
<label for=\"user_code\">Code</label>\
<input id=\"user_code\" name=\"user_code\" type=\"text\" autocomplete=\"one-time-code\" autocapitalize=\"characters\" \
spellcheck=\"false\" required autofocus aria-describedby=\"{described_by}\" aria-invalid=\"{invalid}\" value=\"{}\">\
<p class=\"hint\" id=\"code-hint\">Nine letters and digits, as shown by the application.</p>\
<div class=\"actions\">\
<button type=\"submit\" name=\"action\" value=\"approve\" class=\"primary\">Sign in</button>\
<button type=\"submit\" name=\"action\" value=\"deny\" class=\"secondary\">Deny</button>\
</div></form>",
        html_escape(value)
    )
}

/// The page for an outcome.
pub fn render(outcome: Outcome) -> String {
    match outcome {
        Outcome::Form { code } => frame("Enter code", &form(None, code)),
        Outcome::WrongCode(value) => frame(
            "Error: Enter code",
            &form(Some("That code was not recognised. It may be mistyped, expired, or already used. Check the code and try again."), value),
        ),
        Outcome::SignedIn { user_code } => frame(
            "Signed in",
            &format!(
                "<h1>You are signed in</h1><div class=\"done\" role=\"status\" id=\"result\" data-result=\"signed-in\">\
The sign-in with code <strong>{}</strong> is approved. You can close this window and return to the application.</div>",
                html_escape(user_code)
            ),
        ),
        Outcome::Declined { user_code } => frame(
            "Sign-in declined",
            &format!(
                "<h1>Sign-in declined</h1><div class=\"declined\" role=\"status\" id=\"result\" data-result=\"declined\">\
The sign-in with code <strong>{}</strong> was declined. The application will be told. You can close this window.</div>",
                html_escape(user_code)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_labelled_and_marked_as_a_local_test_authority() {
        let p = render(Outcome::Form { code: "" });
        assert!(p.contains("<label for=\"user_code\">Code</label>") && p.contains("id=\"user_code\""));
        assert!(p.contains(">Sign in</button>") && p.contains(">Deny</button>"));
        assert!(p.contains("Local test authority — not Microsoft"));
        assert!(p.contains("lang=\"en\""));
        assert!(p.contains("aria-describedby=\"code-hint\"") && !p.contains("role=\"alert\""));
    }

    #[test]
    fn a_code_from_the_link_is_filled_in_escaped() {
        let p = render(Outcome::Form { code: "AB\"C" });
        assert!(p.contains("value=\"AB&quot;C\""));
    }

    #[test]
    fn a_wrong_code_is_announced_and_escaped() {
        let p = render(Outcome::WrongCode("<script>"));
        assert!(p.contains("role=\"alert\"") && p.contains("aria-invalid=\"true\"") && p.contains("aria-describedby=\"result code-hint\""));
        assert!(p.contains("<title>Error: "));
        assert!(p.contains("&lt;script&gt;") && !p.contains("<script>"));
    }
}
