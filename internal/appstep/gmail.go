package appstep

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

// GmailMaxMessage caps the size of the RFC 2822 message a send_email step
// builds (attachments included, after their base64 encoding). Gmail's
// users.messages.send takes messages of at most 35 MB (the maxSize "35MB"
// of its media upload in Google's discovery document; see
// https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/send
// and https://developers.google.com/workspace/gmail/api/guides/uploads),
// and the JSON endpoint carries the message base64url-encoded, a third
// larger; Gmail itself refuses attachments past 25 MB, so the cap is
// 25 MiB.
const GmailMaxMessage = 25 << 20

// gmailLineLen is the length of the base64 lines of attachments (RFC 2045
// allows 76 characters).
const gmailLineLen = 76

// gmailRaw adds "raw" to a Gmail messages.send request: the RFC 2822
// message built from the step's input, base64url-encoded. Bcc recipients
// are written in a Bcc header: Gmail sends to the recipients of the To,
// Cc and Bcc headers of the raw message and does not show Bcc to the
// others.
func gmailRaw(req *catalog.Request, input map[string]any) error {
	msg, err := gmailMessage(input, time.Now())
	if err != nil {
		return err
	}
	body, _ := req.Body.(map[string]any)
	body = maps.Clone(body)
	if body == nil {
		body = map[string]any{}
	}
	body["raw"] = base64.URLEncoding.EncodeToString(msg)
	req.Body = body
	return nil
}

// gmailAttachment is one attachment of a message.
type gmailAttachment struct {
	filename, mimeType string
	data               []byte
}

// gmailMessage builds the RFC 2822 message of a send_email step's input.
func gmailMessage(input map[string]any, now time.Time) ([]byte, error) {
	text, _ := input["text"].(string)
	html, _ := input["html"].(string)
	if text == "" && html == "" {
		return nil, wiresk.FieldError("input.text", "give text, html or both: a message needs a body")
	}
	atts, err := gmailAttachments(input["attachments"])
	if err != nil {
		return nil, err
	}

	h := &gmailHeader{}
	if err := gmailFrom(h, input); err != nil {
		return nil, err
	}
	for _, f := range []struct{ input, name string }{{"to", "To"}, {"cc", "Cc"}, {"bcc", "Bcc"}, {"reply_to", "Reply-To"}} {
		s, _ := input[f.input].(string)
		if strings.TrimSpace(s) == "" {
			if f.input == "to" {
				return nil, wiresk.FieldError("input.to", "is required: give at least one recipient")
			}
			continue
		}
		list, err := gmailAddresses("input."+f.input, s)
		if err != nil {
			return nil, err
		}
		h.addresses(f.name, list)
	}
	subject, _ := input["subject"].(string)
	if err := noLineBreak("input.subject", subject); err != nil {
		return nil, err
	}
	h.text("Subject", subject)
	h.add("Date", now.Format(time.RFC1123Z))
	h.add("Message-ID", gmailMessageID(now))
	if s, _ := input["in_reply_to"].(string); s != "" {
		if err := noLineBreak("input.in_reply_to", s); err != nil {
			return nil, err
		}
		id := strings.TrimSpace(s)
		if !strings.HasPrefix(id, "<") {
			id = "<" + id + ">"
		}
		if strings.ContainsAny(id, " \t") || !strings.HasSuffix(id, ">") || !strings.Contains(id, "@") {
			return nil, wiresk.FieldError("input.in_reply_to", "is not a Message-ID, like <abc@mail.gmail.com>")
		}
		h.add("In-Reply-To", id)
		h.add("References", id)
	}
	h.add("MIME-Version", "1.0")

	var body bytes.Buffer
	switch {
	case len(atts) > 0:
		w := multipart.NewWriter(&body)
		h.add("Content-Type", "multipart/mixed; boundary="+w.Boundary())
		part := textproto.MIMEHeader{}
		var content bytes.Buffer
		gmailContent(part, &content, text, html)
		if err := writePart(w, part, content.Bytes()); err != nil {
			return nil, err
		}
		for _, a := range atts {
			if err := writePart(w, attachmentHeader(a), wrapBase64(a.data)); err != nil {
				return nil, err
			}
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		part := textproto.MIMEHeader{}
		gmailContent(part, &body, text, html)
		for _, k := range []string{"Content-Type", "Content-Transfer-Encoding"} {
			if v := part.Get(k); v != "" {
				h.add(k, v)
			}
		}
	}
	var out bytes.Buffer
	out.Grow(h.b.Len() + 2 + body.Len())
	out.Write(h.b.Bytes())
	out.WriteString("\r\n")
	out.Write(body.Bytes())
	if out.Len() > GmailMaxMessage {
		field := "input.text"
		switch {
		case len(atts) > 0:
			field = "input.attachments"
		case html != "":
			field = "input.html"
		}
		return nil, wiresk.FieldError(field, "makes a message of %s; Gmail takes messages of at most 35 MB and this step sends at most %s", sizeText(out.Len()), sizeText(GmailMaxMessage))
	}
	return out.Bytes(), nil
}

// gmailFrom writes the From header: from_email (the mailbox's address or
// one of its send-as aliases) with the from_name display name. Without
// from_email Gmail writes the mailbox's own address; a display name alone
// cannot make a From header.
func gmailFrom(h *gmailHeader, input map[string]any) error {
	name, _ := input["from_name"].(string)
	email, _ := input["from_email"].(string)
	if err := noLineBreak("input.from_name", name); err != nil {
		return err
	}
	if err := noLineBreak("input.from_email", email); err != nil {
		return err
	}
	email = strings.TrimSpace(email)
	if email == "" {
		if strings.TrimSpace(name) != "" {
			return wiresk.FieldError("input.from_name", "needs from_email, the mailbox's address or one of its send-as aliases: a From header needs an address")
		}
		return nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" {
		return wiresk.FieldError("input.from_email", "is not an email address, like ada@example.com")
	}
	a.Name = strings.TrimSpace(name)
	h.addresses("From", []*mail.Address{a})
	return nil
}

// gmailAddresses parses a comma-separated address list.
func gmailAddresses(field, s string) ([]*mail.Address, error) {
	if err := noLineBreak(field, s); err != nil {
		return nil, err
	}
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, wiresk.FieldError(field, "is not a comma-separated list of email addresses (like Ada <ada@example.com>, bob@example.com): %v", err)
	}
	return list, nil
}

// noLineBreak refuses a header value that could end its header and start
// another (header injection).
func noLineBreak(field, s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return wiresk.FieldError(field, "must not contain line breaks: it goes in a message header")
	}
	return nil
}

// gmailMessageID returns a new Message-ID.
func gmailMessageID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("<%d.%s@wiresk>", now.UnixMilli(), hex.EncodeToString(b[:]))
}

// gmailAttachments decodes the attachments input: an array of {filename,
// content (base64, standard or URL alphabet, padded or not), mime_type}.
func gmailAttachments(v any) ([]gmailAttachment, error) {
	list, _ := v.([]any)
	var out []gmailAttachment
	total := 0
	for i, e := range list {
		field := fmt.Sprintf("input.attachments[%d]", i)
		m, ok := e.(map[string]any)
		if !ok {
			return nil, wiresk.FieldError(field, "must be an object {filename, content, mime_type}")
		}
		for k := range m {
			if k != "filename" && k != "content" && k != "mime_type" {
				return nil, wiresk.FieldError(field+"."+k, "is not a field of an attachment (filename, content, mime_type)")
			}
		}
		name, _ := m["filename"].(string)
		if strings.TrimSpace(name) == "" {
			return nil, wiresk.FieldError(field+".filename", "is required")
		}
		if err := noLineBreak(field+".filename", name); err != nil {
			return nil, err
		}
		if mime.FormatMediaType("attachment", map[string]string{"filename": name}) == "" {
			return nil, wiresk.FieldError(field+".filename", "has characters a file name in a message cannot carry")
		}
		content, ok := m["content"].(string)
		if !ok {
			return nil, wiresk.FieldError(field+".content", "is required: the file's bytes in base64")
		}
		// Refuse what cannot fit before decoding it.
		if total+base64.StdEncoding.DecodedLen(len(content)) > GmailMaxMessage {
			return nil, wiresk.FieldError("input.attachments", "are too large: Gmail takes messages of at most 35 MB and this step sends at most %s", sizeText(GmailMaxMessage))
		}
		data, err := decodeBase64(content)
		if err != nil {
			return nil, wiresk.FieldError(field+".content", "is not base64: %v", err)
		}
		total += len(data)
		mt, _ := m["mime_type"].(string)
		if mt == "" {
			mt = "application/octet-stream"
		}
		if err := noLineBreak(field+".mime_type", mt); err != nil {
			return nil, err
		}
		if _, _, err := mime.ParseMediaType(mt); err != nil || !strings.Contains(mt, "/") {
			return nil, wiresk.FieldError(field+".mime_type", "is not a MIME type, like application/pdf")
		}
		out = append(out, gmailAttachment{filename: strings.TrimSpace(name), mimeType: mt, data: data})
	}
	return out, nil
}

// decodeBase64 decodes standard or URL-alphabet base64, padded or not,
// ignoring line breaks and blanks (content copied from a MIME part or
// another app's answer is often wrapped).
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		case '-':
			return '+'
		case '_':
			return '/'
		}
		return r
	}, s)
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// gmailContent writes the message's text and HTML bodies into body, and
// their Content-Type (multipart/alternative for both) into h.
func gmailContent(h textproto.MIMEHeader, body *bytes.Buffer, text, html string) {
	if text == "" || html == "" {
		mt, s := "text/plain", text
		if text == "" {
			mt, s = "text/html", html
		}
		h.Set("Content-Type", mt+"; charset=utf-8")
		h.Set("Content-Transfer-Encoding", textEncoding(s))
		writeText(body, s)
		return
	}
	w := multipart.NewWriter(body)
	h.Set("Content-Type", "multipart/alternative; boundary="+w.Boundary())
	for _, p := range []struct{ mt, s string }{{"text/plain", text}, {"text/html", html}} {
		ph := textproto.MIMEHeader{}
		ph.Set("Content-Type", p.mt+"; charset=utf-8")
		ph.Set("Content-Transfer-Encoding", textEncoding(p.s))
		var b bytes.Buffer
		writeText(&b, p.s)
		// A bytes.Buffer never fails to take a write.
		_ = writePart(w, ph, b.Bytes())
	}
	_ = w.Close()
}

// textEncoding is the transfer encoding of a text body: 7bit for ASCII
// with short lines, quoted-printable otherwise.
func textEncoding(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if len(line) > 900 {
			return "quoted-printable"
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			return "quoted-printable"
		}
	}
	return "7bit"
}

// writeText writes s with CRLF line ends, quoted-printable when
// textEncoding says so.
func writeText(b *bytes.Buffer, s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ToValidUTF8(s, "\uFFFD")
	if textEncoding(s) == "7bit" {
		b.WriteString(strings.ReplaceAll(s, "\n", "\r\n"))
		return
	}
	w := quotedprintable.NewWriter(b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
}

// attachmentHeader is the MIME header of an attachment part; a non-ASCII
// file name is written as RFC 2231 says (filename*=utf-8”).
func attachmentHeader(a gmailAttachment) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	mt, params, _ := mime.ParseMediaType(a.mimeType)
	params["name"] = a.filename
	h.Set("Content-Type", mime.FormatMediaType(mt, params))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.filename}))
	h.Set("Content-Transfer-Encoding", "base64")
	return h
}

// wrapBase64 is data in base64, in lines of gmailLineLen characters.
func wrapBase64(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	b.Grow(len(enc) + len(enc)/gmailLineLen*2 + 2)
	for len(enc) > gmailLineLen {
		b.WriteString(enc[:gmailLineLen])
		b.WriteString("\r\n")
		enc = enc[gmailLineLen:]
	}
	b.WriteString(enc)
	return b.Bytes()
}

// writePart writes one part of a multipart body.
func writePart(w *multipart.Writer, h textproto.MIMEHeader, body []byte) error {
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = pw.Write(body)
	return err
}

// gmailHeader builds a message header with folded lines.
type gmailHeader struct{ b bytes.Buffer }

// add writes a header line as it is.
func (h *gmailHeader) add(name, value string) {
	h.b.WriteString(name + ": " + value + "\r\n")
}

// text writes an unstructured header (Subject): as it is when it is
// printable ASCII that fits on a line, otherwise Q-encoded (RFC 2047) and
// folded between the encoded words, whose separating blanks decoders drop.
func (h *gmailHeader) text(name, value string) {
	if isPrintableASCII(value) && len(value) <= 900 && !strings.Contains(value, "=?") {
		h.add(name, value)
		return
	}
	h.folded(name, strings.Split(mime.QEncoding.Encode("utf-8", value), " "), " ")
}

// addresses writes an address list header, one address per folded line
// when they do not fit on one.
func (h *gmailHeader) addresses(name string, list []*mail.Address) {
	words := make([]string, len(list))
	for i, a := range list {
		words[i] = a.String()
		if i < len(list)-1 {
			words[i] += ","
		}
	}
	h.folded(name, words, " ")
}

// folded writes name: words joined by sep, starting a continuation line
// (CRLF and a blank) where a line would pass 76 characters.
func (h *gmailHeader) folded(name string, words []string, sep string) {
	line := len(name) + 2
	h.b.WriteString(name + ":")
	for i, w := range words {
		if i > 0 && line+len(sep)+len(w) > 76 {
			h.b.WriteString("\r\n")
			line = 0
		}
		h.b.WriteString(sep + w)
		line += len(sep) + len(w)
	}
	h.b.WriteString("\r\n")
}

// isPrintableASCII reports whether s is printable ASCII (blanks included).
func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

// sizeText writes a size in bytes as MiB with one decimal.
func sizeText(n int) string {
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
