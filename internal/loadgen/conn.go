package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// conn is one keep-alive HTTP/1.1 connection that posts forms and reads the answers. The load
// runs on the same machine as the server, so the generator's own CPU counts against the
// server's: this costs a fraction of net/http's client per request, and does only what the
// bench needs (Content-Length and chunked answers, reconnecting when the server closes).
type conn struct {
	addr    string
	host    string
	timeout time.Duration
	c       net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	line    []byte
}

func newConn(addr, host string, timeout time.Duration) *conn {
	return &conn{addr: addr, host: host, timeout: timeout}
}

func (c *conn) dial() error {
	nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
	if err != nil {
		return err
	}
	c.c = nc
	c.r = bufio.NewReaderSize(nc, 8<<10)
	c.w = bufio.NewWriterSize(nc, 8<<10)
	return nil
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// post sends one POST and returns the status and body. A connection the server closed
// between requests is reopened once.
func (c *conn) post(path, contentType string, headers [][2]string, body []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		reused := c.c != nil
		if !reused {
			if err := c.dial(); err != nil {
				return 0, nil, err
			}
		}
		status, resp, closeAfter, err := c.roundTrip(path, contentType, headers, body)
		if err == nil {
			if closeAfter {
				c.close()
			}
			return status, resp, nil
		}
		c.close()
		// A keep-alive connection the server had already closed fails before any answer;
		// anything else is the server's failure to report.
		if !reused || attempt > 0 || !isStale(err) {
			return 0, nil, err
		}
	}
}

func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

func (c *conn) roundTrip(path, contentType string, headers [][2]string, body []byte) (status int, resp []byte, closeAfter bool, err error) {
	if err := c.c.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, nil, false, err
	}
	w := c.w
	w.WriteString("POST ")
	w.WriteString(path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(c.host)
	w.WriteString("\r\nContent-Type: ")
	w.WriteString(contentType)
	for _, h := range headers {
		w.WriteString("\r\n")
		w.WriteString(h[0])
		w.WriteString(": ")
		w.WriteString(h[1])
	}
	w.WriteString("\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\n\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		return 0, nil, false, err
	}
	return c.readResponse()
}

func (c *conn) readResponse() (status int, body []byte, closeAfter bool, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, nil, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked := -1, false
	for {
		h, err := c.readLine()
		if err != nil {
			return 0, nil, false, err
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, nil, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closeAfter = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		body, err = c.readChunked()
	case length >= 0:
		body = make([]byte, length)
		_, err = io.ReadFull(c.r, body)
	default:
		body, err = io.ReadAll(c.r)
		closeAfter = true
	}
	return status, body, closeAfter, err
}

func (c *conn) readChunked() ([]byte, error) {
	var body []byte
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			// Trailers, then the empty line.
			for {
				t, err := c.readLine()
				if err != nil || len(t) == 0 {
					return body, err
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, body[start:]); err != nil {
			return nil, err
		}
		if _, err := c.readLine(); err != nil {
			return nil, err
		}
	}
}

// readLine reads one CRLF-terminated line without its terminator; the slice is valid until the
// next read.
func (c *conn) readLine() ([]byte, error) {
	c.line = c.line[:0]
	for {
		part, isPrefix, err := c.r.ReadLine()
		if err != nil {
			return nil, err
		}
		c.line = append(c.line, part...)
		if !isPrefix {
			return c.line, nil
		}
	}
}
