package e2e

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// Server is an http.Server on a free port of 127.0.0.1.
type Server struct {
	URL  string // http://127.0.0.1:port
	srv  *http.Server
	done chan error
}

// Serve serves h on loopback until Close.
func Serve(h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close closes the listener and every connection, and waits for the serving
// goroutine to return.
func (s *Server) Close() error {
	err := s.srv.Close()
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
