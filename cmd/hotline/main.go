// Command hotline is the 12345 contact-centre server: SIP trunks, IVR, queues, agent
// desk, recordings and work orders in one binary. `hotline` alone serves on built-in
// defaults; `hotline --help` lists everything.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

//go:embed example.yaml
var exampleConfig []byte

// version is set at build time with -ldflags "-X main.version=…"; else the module version.
var version = ""

func main() {
	if dir, ok := os.LookupEnv(diskHelperEnv); ok {
		os.Exit(serveDiskHelper(dir))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `hotline — the 12345 government service hotline contact centre

Usage:
  hotline [serve] [flags]        run the server (the default)
  hotline version                print the version
  hotline config example         print a full, commented configuration
  hotline config check FILE      validate a configuration file
  hotline help                   this text

Flags (serve):
  --config FILE       YAML configuration (built-in defaults otherwise)
  --sip ADDR          SIP listen address, UDP and TCP (default 127.0.0.1:5060)
  --http ADDR         HTTP listen address (default 127.0.0.1:8080)
  --data DIR          data folder (default ./hotline-data)
  --db URL            postgres://… for PostgreSQL (default: the embedded store)
  --log-level LEVEL   debug, info, warn, error (default info)
  --admin-token TOK   bearer token for /api (or HOTLINE_ADMIN_TOKEN; else generated
                      into DIR/admin.token at first start)

Signals: SIGTERM or SIGINT drains (new calls get 503, calls in progress finish up to
drain_timeout), then exits 0.
`

// exit codes
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCmd(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "hotline", versionString())
		return exitOK
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "config":
		return configCmd(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "hotline: unknown command %q\n\n%s", cmd, usage)
	return exitConfig
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "dev"
}

func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "hotline config: say `example` or `check FILE`\n")
		return exitConfig
	}
	switch args[0] {
	case "example":
		_, _ = stdout.Write(exampleConfig)
		return exitOK
	case "check":
		if len(args) != 2 {
			fmt.Fprint(stderr, "hotline config check: give one FILE\n")
			return exitConfig
		}
		cfg := Defaults()
		if err := LoadConfigFile(args[1], &cfg); err != nil {
			fmt.Fprintln(stderr, err)
			return exitConfig
		}
		prompts, err := loadPrompts(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "%s: media.prompts_dir: %v\n", args[1], err)
			return exitConfig
		}
		flows, err := loadFlows(cfg, prompts)
		if err != nil {
			fmt.Fprintf(stderr, "%s: ivr: %v\n", args[1], err)
			return exitConfig
		}
		for _, f := range flows {
			for _, w := range f.Warnings() {
				fmt.Fprintf(stderr, "%s: warning: %v\n", args[1], w)
			}
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return exitOK
	}
	fmt.Fprintf(stderr, "hotline config: unknown subcommand %q\n", args[0])
	return exitConfig
}

// parseServeFlags applies the config file and then the flags over the defaults.
func parseServeFlags(args []string, stderr io.Writer) (Config, string, error) {
	fs := flag.NewFlagSet("hotline", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		configFile = fs.String("config", "", "")
		sipAddr    = fs.String("sip", "", "")
		httpAddr   = fs.String("http", "", "")
		dataDir    = fs.String("data", "", "")
		db         = fs.String("db", "", "")
		logLevel   = fs.String("log-level", "", "")
		token      = fs.String("admin-token", "", "")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, "", err
		}
		return Config{}, "", fmt.Errorf("hotline: %v (see hotline --help)", err)
	}
	if fs.NArg() > 0 {
		return Config{}, "", fmt.Errorf("hotline: unexpected argument %q (see hotline --help)", fs.Arg(0))
	}
	cfg := Defaults()
	name := "built-in configuration"
	if *configFile != "" {
		name = *configFile
		if err := LoadConfigFile(*configFile, &cfg); err != nil {
			return Config{}, "", err
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.SIP.Listen, *sipAddr)
	set(&cfg.HTTP.Listen, *httpAddr)
	set(&cfg.DataDir, *dataDir)
	set(&cfg.DB, *db)
	set(&cfg.LogLevel, *logLevel)
	set(&cfg.HTTP.AdminToken, *token)
	if err := cfg.Validate(name + " with flags"); err != nil {
		return Config{}, "", err
	}
	return cfg, name, nil
}

func serveCmd(args []string, stdout, stderr io.Writer) int {
	cfg, _, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a, err := start(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		var ce *ConfigError
		if errors.As(err, &ce) {
			return exitConfig
		}
		return exitFail
	}
	a.log.Info("hotline ready", "version", versionString(), "sip", a.SIPAddr().String(), "http", a.HTTPAddr(),
		"data", cfg.DataDir, "admin_token_file", a.tokenFile)
	fmt.Fprintf(stdout, "hotline %s: SIP on %s (UDP+TCP), HTTP on http://%s, data in %s\n",
		versionString(), a.SIPAddr(), a.HTTPAddr(), cfg.DataDir)
	if a.tokenFile != "" {
		fmt.Fprintf(stdout, "admin API token: %s\n", a.tokenFile)
	}
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-hup:
			if err := a.ReloadFlows(); err != nil {
				a.log.Error("hotline: flow reload refused; the old flows stay", "error", err)
			} else {
				a.log.Info("hotline: flows reloaded")
			}
		case err := <-a.fatal:
			a.log.Error("hotline: fatal", "error", err)
			a.Shutdown(context.Background(), 0)
			return exitFail
		}
	}
	stop() // a second signal kills at once
	a.log.Info("hotline: draining", "active_calls", a.sip.ActiveCalls(), "deadline", cfg.DrainTimeout)
	a.Shutdown(context.Background(), cfg.DrainTimeout.D())
	a.log.Info("hotline: stopped")
	return exitOK
}
