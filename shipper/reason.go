package shipper

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// Reason says in a few words why the output does not work, from a fixed
// vocabulary: nothing in it comes from the server (no body, no reason
// phrase, no certificate field), so it can be shown where anyone may look,
// such as the unauthenticated /readyz. The full error, with the details,
// goes to the agent's log.
func Reason(err error) string {
	var (
		status    *HTTPStatusError
		tooLarge  *TooLargeError
		unknownCA x509.UnknownAuthorityError
		badHost   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recHdr    tls.RecordHeaderError
		dnsErr    *net.DNSError
		netErr    net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &status):
		return "server answered " + statusText(status.StatusCode)
	case errors.As(err, &tooLarge):
		return "message too large for the transport"
	case errors.As(err, &unknownCA):
		return "TLS: server certificate not trusted"
	case errors.As(err, &badHost):
		return "TLS: server certificate issued for another name"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "TLS: server certificate expired or not yet valid"
	case errors.As(err, &invalid):
		return "TLS: server certificate invalid"
	case errors.As(err, &recHdr):
		return "TLS: the server does not speak TLS"
	case isRemoteCertAlert(err):
		return "TLS: the server refused the client certificate"
	case isRemoteAlert(err):
		return "TLS: handshake refused by the server"
	case errors.As(err, &dnsErr):
		return "cannot resolve the server's name"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset by the server"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "server unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	}
	return "connection failed"
}

// isRemoteAlert reports any TLS alert sent by the server during the
// handshake (crypto/tls wraps it in a *net.OpError with Op "remote error").
func isRemoteAlert(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && ne.Op == "remote error"
}

// connectError wraps a dial or handshake error with the endpoint and, for
// the usual mistakes, a hint naming the setting to check.
func (s *Shipper) connectError(err error) error {
	hint := ""
	var (
		unknownCA x509.UnknownAuthorityError
		badHost   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recHdr    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA):
		if s.cfg.CACert != "" {
			hint = fmt.Sprintf(" (is ca_cert %s the CA that signed the server certificate?)", s.cfg.CACert)
		} else {
			hint = " (set ca_cert to the CA that signed the server certificate)"
		}
	case errors.As(err, &badHost):
		hint = " (set tls_server_name if the server certificate is issued for another name)"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		hint = " (check the server certificate dates and the local clock)"
	case errors.As(err, &recHdr):
		hint = " (the server does not speak TLS: is this a plain tcp:// input?)"
	case isRemoteCertAlert(err):
		if s.cfg.ClientCert == "" {
			hint = " (the server may require a client certificate: set client_cert and client_key)"
		} else {
			hint = fmt.Sprintf(" (the server rejected client_cert %s?)", s.cfg.ClientCert)
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		hint = " (is the GELF input listening on that port?)"
	}
	return fmt.Errorf("connect %s: %w%s", s.ep, err, hint)
}

// isRemoteCertAlert reports a TLS alert from the server about our
// certificate ("remote error: tls: certificate required", "... bad
// certificate"). crypto/tls returns remote alerts as a *net.OpError with Op
// "remote error" around an unexported type, so the text is all there is.
func isRemoteCertAlert(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && ne.Op == "remote error" && ne.Err != nil &&
		strings.Contains(ne.Err.Error(), "certificate")
}
