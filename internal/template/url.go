package template

import (
	"fmt"
	"net/url"
	"strings"
)

// urlPos is the part of a URL that the next character written lands in.
type urlPos int

const (
	urlStart     urlPos = iota // before "://": the scheme, or a whole URL
	urlAuthority               // after "://", before the path: host, port
	urlPath
	urlQuery
	urlFragment
)

// urlState follows the position in a URL as it is written, chunk by chunk.
type urlState struct {
	pos urlPos
	// tail holds the last bytes written while pos is urlStart, so that a
	// "://" split over two chunks is still seen.
	tail string
}

// advance moves the state past s, which was just written.
func (st *urlState) advance(s string) {
	for st.pos == urlStart && s != "" {
		joined := st.tail + s
		if i := strings.IndexAny(joined, "?#"); i >= 0 && !strings.Contains(joined[:i], "://") {
			st.setDelim(joined[i])
			s = joined[i+1:]
			break
		}
		i := strings.Index(joined, "://")
		if i < 0 {
			st.tail = joined[max(0, len(joined)-2):]
			return
		}
		st.pos, st.tail = urlAuthority, ""
		s = joined[i+3:]
	}
	for s != "" {
		var i int
		switch st.pos {
		case urlAuthority:
			i = strings.IndexAny(s, "/?#")
		case urlPath:
			i = strings.IndexAny(s, "?#")
		case urlQuery:
			i = strings.IndexByte(s, '#')
		default:
			return
		}
		if i < 0 {
			return
		}
		st.setDelim(s[i])
		s = s[i+1:]
	}
}

func (st *urlState) setDelim(c byte) {
	switch c {
	case '/':
		st.pos = urlPath
	case '?':
		st.pos = urlQuery
	case '#':
		st.pos = urlFragment
	}
}

// escape escapes s for the position st is at. Before "://" (the scheme,
// or a value that is a whole URL or base URL) s is left as it is; in the
// host and port it is left as it is too, but refused if it could end the
// host or put a user name in front of it.
func (st *urlState) escape(s string) (string, error) {
	switch st.pos {
	case urlAuthority:
		if i := strings.IndexFunc(s, func(r rune) bool { return strings.ContainsRune(`/?#@\`, r) || r <= ' ' || r == 0x7f }); i >= 0 {
			return "", fmt.Errorf("a value written into the host of a URL cannot hold %q (write raw(...) to insert it as it is, or put a / before it to write it into the path)", s[i])
		}
		return s, nil
	case urlPath:
		if s == "." || s == ".." {
			return "", fmt.Errorf("%q cannot be written into a URL path: it would walk the path (write raw(...) to insert it as it is)", s)
		}
		return url.PathEscape(s), nil
	case urlQuery:
		return url.QueryEscape(s), nil
	case urlFragment:
		return (&url.URL{Fragment: s}).EscapedFragment(), nil
	}
	return s, nil
}
