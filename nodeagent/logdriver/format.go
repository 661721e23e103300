package logdriver

import (
	"bytes"
	"errors"
	"time"
)

// Entry is one line (or part of a line) of a container log.
type Entry struct {
	Time    time.Time
	Stream  string // stdout or stderr
	Partial bool   // the line goes on in the next entry
	Content []byte // without the newline
}

// Format renders e as a log file line, newline included.
func Format(e Entry) []byte {
	tag := "F"
	if e.Partial {
		tag = "P"
	}
	b := make([]byte, 0, 40+len(e.Content))
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, e.Stream...)
	b = append(b, ' ')
	b = append(b, tag...)
	b = append(b, ' ')
	b = append(b, e.Content...)
	return append(b, '\n')
}

var errFormat = errors.New("not a CRI log line")

// Parse reads one log file line (with or without its newline).
func Parse(line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return Entry{}, errFormat
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Entry{}, errFormat
	}
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return Entry{}, errFormat
	}
	tag, content, ok := bytes.Cut(rest, []byte(" "))
	if !ok && len(rest) == 1 {
		tag, content, ok = rest, nil, true // an empty partial entry
	}
	if !ok || (string(tag) != "F" && string(tag) != "P") {
		return Entry{}, errFormat
	}
	return Entry{Time: t, Stream: string(stream), Partial: string(tag) == "P", Content: content}, nil
}
