package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is the server's configuration: flags, each with an environment fallback.
type config struct {
	DatabaseURL     string
	ListenAddr      string
	PublicURL       string
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	// DBMaxConns caps the server's PostgreSQL connections.
	DBMaxConns       int
	AllowPrivateURLs bool
}

// bind registers the config's flags on fs with defaults from the environment.
func (c *config) bind(fs *flag.FlagSet, getenv func(string) string) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.DatabaseURL, "database-url", getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	fs.StringVar(&c.ListenAddr, "listen", env("LISTEN_ADDR", ":8080"), "address to serve HTTP on (env LISTEN_ADDR)")
	fs.StringVar(&c.PublicURL, "public-url", env("PUBLIC_URL", ""), "public base URL carriers reach this server at, for webhook signatures (env PUBLIC_URL; default http://localhost:PORT)")
	fs.StringVar(&c.LogLevel, "log-level", env("DIRECTSMS_LOG_LEVEL", "info"), "debug, info, warn or error (env DIRECTSMS_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("DIRECTSMS_LOG_FORMAT", "json"), "json or text (env DIRECTSMS_LOG_FORMAT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to drain requests on SIGTERM")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", envInt(getenv, "DIRECTSMS_DB_MAX_CONNS", defaultDBMaxConns), "PostgreSQL connections the server may open (env DIRECTSMS_DB_MAX_CONNS); requests beyond them wait for one")
	fs.BoolVar(&c.AllowPrivateURLs, "allow-private-urls", env("DIRECTSMS_ALLOW_PRIVATE_URLS", "") == "true", "let tenants register callback URLs on private or loopback addresses (development only; env DIRECTSMS_ALLOW_PRIVATE_URLS=true)")
}

// defaultDBMaxConns is pg.Open's pool size. PostgreSQL runs a process per connection, so a
// database with few cores may do better with fewer; enough of them must stay busy for commits
// to share WAL flushes.
const defaultDBMaxConns = 32

// envInt reads an integer from the environment, def when unset or not a number (validate then
// reports an out-of-range value).
func envInt(getenv func(string) string, key string, def int) int {
	if v := getenv(key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		return -1
	}
	return def
}

// validate checks the configuration at start, so a mistake stops the process with a clear
// message rather than surfacing on the first request.
func (c *config) validate() error {
	if c.DatabaseURL == "" {
		return errors.New("DATABASE_URL (or --database-url) is required; for a zero-config demo run \"directsms dev\"")
	}
	if c.PublicURL == "" {
		port := c.ListenAddr[strings.LastIndex(c.ListenAddr, ":")+1:]
		c.PublicURL = "http://localhost:" + port
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("PUBLIC_URL %q must be an absolute http(s) URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.DBMaxConns < 0 || c.DBMaxConns > 1000 {
		return fmt.Errorf("DIRECTSMS_DB_MAX_CONNS (--db-max-conns) must be a whole number from 1 to 1000")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("log format %q must be json or text", c.LogFormat)
	}
	return nil
}

func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}
