// Command local runs Payment Pet Functions on one machine, standing in for
// OpenFaaS (gateway, Kafka connector, cron connector) without Docker:
//
//	go run ./local run                      # the whole stack (make run)
//	go run ./local dlq list [topic.dlq]     # dead letters, with why they died
//	go run ./local dlq replay [topic.dlq]   # send them back to their topic
//
// Settings come from the environment: DATABASE_URL and KAFKA_BROKERS use
// existing services instead of the private ones; GATEWAY_ADDR, UI_PORT,
// LOCAL_PG_PORT, LOCAL_KAFKA_PORTS, NO_UI, GATEWAY_CALLBACK_HOSTS; and any variable a function declares in stack.yml
// (PAYMENT_PROVIDER_MAX_DELAY=0, say) overrides it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"handler/function/local/connector"
	"handler/function/local/runner"
)

func main() {
	runner.TuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		args = []string{"run"}
	}
	cfg, err := runner.ConfigFromEnv()
	if err != nil {
		return err
	}
	switch args[0] {
	case "run":
		return runStack(ctx, cfg)
	case "dlq":
		return deadLetters(ctx, cfg, args[1:])
	default:
		return fmt.Errorf("unknown command %q (want run or dlq)", args[0])
	}
}

func runStack(ctx context.Context, cfg runner.Config) error {
	s, err := runner.Start(ctx, cfg, os.Stderr)
	if err != nil {
		return err
	}
	return s.Run(ctx, func() {
		fmt.Printf("\nPayment Pet Functions is running (Ctrl-C stops it)\n")
		if cfg.UI {
			fmt.Printf("  UI:        http://localhost:%d  (System page: /system, as admin with the password below)\n", cfg.UIPort)
		}
		fmt.Printf("  gateway:   %s  (events: %s/system/events)\n", s.GatewayURL, s.GatewayURL)
		fmt.Printf("  kafka:     %s\n", strings.Join(s.Brokers, ","))
		fmt.Printf("  postgres:  %s\n", s.DatabaseURL)
		fmt.Printf("  API key:   %s  (send Authorization: Bearer <key>; kept in %s/secrets/payments-api-key)\n", s.APIKey, cfg.StateDir)
		fmt.Printf("  admin:     /system/* needs basic auth as admin: faas-cli login -g %s -u admin --password-stdin < %s/secrets/basic-auth-password\n\n", s.GatewayURL, cfg.StateDir)
	})
}

// deadLetters lists or replays the dead letters of a topic (both by default).
func deadLetters(ctx context.Context, cfg runner.Config, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: dlq list|replay [topic.dlq ...]")
	}
	brokers := cfg.KafkaBrokers
	if len(brokers) == 0 {
		for _, p := range cfg.KafkaPorts {
			brokers = append(brokers, fmt.Sprintf("127.0.0.1:%d", p))
		}
	}
	topics := args[1:]
	if len(topics) == 0 {
		topics = []string{"payments.dlq", "paymentsResults.dlq"}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, topic := range topics {
		switch args[0] {
		case "list":
			letters, err := connector.ListDeadLetters(ctx, brokers, topic)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			for _, l := range letters {
				if err := enc.Encode(l); err != nil {
					return err
				}
			}
			fmt.Fprintf(os.Stderr, "%s: %d dead letters\n", topic, len(letters))
		case "replay":
			n, err := connector.ReplayDeadLetters(ctx, brokers, topic, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s: replayed %d dead letters\n", topic, n)
		default:
			return fmt.Errorf("unknown dlq command %q (want list or replay)", args[0])
		}
	}
	return nil
}
