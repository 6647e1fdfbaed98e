// Command goaws runs goaws v0.5.4, the SQS emulator of the contract suites,
// exactly as its own command does (github.com/Admiral-Piett/goaws/app/cmd)
// but listening on the loopback interface only: its own command listens on
// 0.0.0.0 and has no option to bind elsewhere, which would let anyone on the
// network send, read and delete the test queues' messages.
//
// The Makefile builds it (`make emulators`) into .cache/bin/goaws. It is a
// module of its own so that goaws and its dependencies stay out of Wiresk's
// go.mod; its go.mod pins the goaws version.
//
// Usage, as goaws: goaws [-config FILE] [-loglevel LEVEL] [-debug] [ENVIRONMENT]
package main

import (
	"flag"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	log "github.com/sirupsen/logrus"
)

// host is the only address goaws listens on.
const host = "127.0.0.1"

func main() {
	var filename, loglevel string
	var debug bool
	flag.StringVar(&filename, "config", "", "config file location + name")
	flag.BoolVar(&debug, "debug", false, "set debug log level")
	flag.StringVar(&loglevel, "loglevel", "info", "log level (default info)")
	flag.Parse()

	log.SetFormatter(&log.JSONFormatter{})
	log.SetOutput(os.Stdout)
	if debug {
		log.SetLevel(log.DebugLevel)
	} else if level, err := log.ParseLevel(loglevel); err != nil {
		log.SetLevel(log.InfoLevel)
		log.Warnf("Failed to parse loglevel %v, defaulting to info", loglevel)
	} else {
		log.SetLevel(level)
	}

	env := "Local"
	if flag.NArg() > 0 {
		env = flag.Arg(0)
	}
	ports := conf.LoadYamlConfig(filename, env)
	if models.CurrentEnvironment.LogToFile {
		file, err := os.OpenFile(models.CurrentEnvironment.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
		if err == nil {
			log.SetOutput(file)
		} else {
			log.Infof("Failed to log to file: %s, using default stderr", models.CurrentEnvironment.LogFile)
		}
	}
	if len(ports) != 1 && len(ports) != 2 {
		log.Fatal("Not enough or too many ports defined to start GoAws.")
	}

	r := router.New()
	go gosqs.PeriodicTasks(1*time.Second, make(chan bool))

	errs := make(chan error, len(ports))
	for _, port := range ports {
		addr := net.JoinHostPort(host, port)
		log.Warnf("GoAws listening on: %s", addr)
		go func() { errs <- http.ListenAndServe(addr, r) }()
	}
	log.Fatal(<-errs)
}
