package health

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// writeJSON renders the application/health+json body
// (draft-inadarei-api-health-check): {"status":...,"version":...,
// "releaseId":...,"serviceId":...,"checks":{NAME:[{"status",
// "time","output"}]},"notes":[...]}, checks in name order, byte for byte
// what encoding/json would write for the same document, without its maps
// and reflection.
func writeJSON(w http.ResponseWriter, rep *report, details bool) {
	bp := textBufs.Get().(*[]byte)
	b := appendJSON((*bp)[:0], rep, details)
	_, _ = w.Write(b)
	*bp = b
	textBufs.Put(bp)
}

func appendJSON(b []byte, rep *report, details bool) []byte {
	b = append(b, `{"status":"`...)
	b = append(b, jsonStatus(rep.status)...)
	b = append(b, '"')
	if ri := rep.release; ri != nil {
		b = appendJSONField(b, "version", ri.Version)
		b = appendJSONField(b, "releaseId", ri.ID)
		b = appendJSONField(b, "serviceId", ri.Service)
	}
	var orderBuf [16]int
	order := orderBuf[:0]
	for i := range rep.items {
		if !rep.items[i].excluded {
			order = append(order, i)
		}
	}
	// Checks are in name order already, but the gates come first.
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(rep.items[x].name, rep.items[y].name) })
	if len(order) > 0 {
		b = append(b, `,"checks":{`...)
		for n, i := range order {
			it := &rep.items[i]
			if n > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, it.name)
			b = append(b, `:[{"status":"`...)
			b = append(b, jsonStatus(it.status)...)
			b = append(b, '"')
			if it.res != nil && !it.res.end.IsZero() {
				b = append(b, `,"time":"`...)
				b = it.res.end.UTC().AppendFormat(b, time.RFC3339Nano)
				b = append(b, '"')
			}
			if details && it.status != StatusPass {
				if why := reason(it, true); why != "" {
					b = append(b, `,"output":`...)
					b = appendJSONString(b, why)
				}
			}
			b = append(b, "}]"...)
		}
		b = append(b, '}')
	}
	n := 0
	rep.unmatched(func(name string, gate bool) {
		if n == 0 {
			b = append(b, `,"notes":[`...)
		} else {
			b = append(b, ',')
		}
		n++
		if gate {
			b = appendJSONString(b, "gate "+strconv.Quote(name)+" cannot be excluded")
		} else {
			b = appendJSONString(b, "no check named "+strconv.Quote(name)+" to exclude")
		}
	})
	if n > 0 {
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// appendJSONField appends ,"name":value, or nothing when value is empty.
func appendJSONField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML characters included). Plain ASCII, which check names
// and most reasons are, is copied as it is.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonStatus maps a status onto the draft's three values; unknown is fail.
func jsonStatus(s Status) string {
	if s == StatusUnknown {
		return StatusFail.String()
	}
	return s.String()
}
