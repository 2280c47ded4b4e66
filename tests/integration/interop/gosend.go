// gosend: submits one message file with Go's standard net/smtp, as Go programs do (its
// Client.Mail adds BODY=8BITMIME and SMTPUTF8 whenever the server offers them).
//
//	gosend -addr 127.0.0.1:2587 -tls starttls|implicit -ca ca.pem -user U -pass P \
//	       -from a@example.test -to b@example.org[,c@...] -file message.eml
//
// Exit status 0 when the server accepted the message; otherwise the error is printed.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"strings"
)

func main() {
	addr := flag.String("addr", "", "host:port")
	mode := flag.String("tls", "starttls", "starttls or implicit")
	ca := flag.String("ca", "", "CA certificate file (PEM)")
	user := flag.String("user", "", "AUTH PLAIN user")
	pass := flag.String("pass", "", "AUTH PLAIN password")
	from := flag.String("from", "", "envelope sender")
	to := flag.String("to", "", "envelope recipients, comma-separated")
	file := flag.String("file", "", "the message")
	flag.Parse()
	if err := send(*addr, *mode, *ca, *user, *pass, *from, strings.Split(*to, ","), *file); err != nil {
		fmt.Fprintln(os.Stderr, "gosend:", err)
		os.Exit(1)
	}
}

func send(addr, mode, caFile, user, pass, from string, to []string, file string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", caFile)
	}
	conf := &tls.Config{RootCAs: pool, ServerName: host}
	msg, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var c *smtp.Client
	if mode == "implicit" {
		conn, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			return err
		}
		if c, err = smtp.NewClient(conn, host); err != nil {
			return err
		}
	} else {
		if c, err = smtp.Dial(addr); err != nil {
			return err
		}
		if err = c.StartTLS(conf); err != nil {
			return err
		}
	}
	defer c.Close()
	if err = c.Auth(smtp.PlainAuth("", user, pass, host)); err != nil {
		return err
	}
	if err = c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err = c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err = w.Write(msg); err != nil {
		return err
	}
	if err = w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
