package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"wiresk/internal/app"
	"wiresk/internal/bolt"
	"wiresk/internal/connect"
	"wiresk/internal/dynamo"
	"wiresk/internal/fileblob"
	"wiresk/internal/manage"
	"wiresk/internal/queue"
	"wiresk/internal/s3blob"
	"wiresk/internal/secrets"
	"wiresk/internal/sqsqueue"
)

// store is everything the runner's use cases need of the store port.
type store interface {
	app.Store
}

// jobQueue is what the runner needs of the queue port: send for the
// ingress and the management API, receive for the worker pump.
type jobQueue interface {
	queue.Receiver
	Send(ctx context.Context, body []byte, attrs map[string]string) (string, error)
}

// backend is the runner's adapters and how to close them.
type backend struct {
	store store
	queue jobQueue
	// deadLetters is the run queue's dead-letter queue; nil when the AWS
	// backend was given no WIRESK_DLQ_URL.
	deadLetters manage.DeadLetterQueue
	vault       connect.Vault
	// bodies keeps the webhook bodies stored by reference; expireBodies,
	// for those in the data directory, deletes the ones written before a
	// time (nil for S3, whose lifecycle rule does it on AWS).
	bodies       app.Bodies
	expireBodies func(ctx context.Context, before time.Time) (int, error)
	// keyVault loads the OAuth state key (race-safe creation where the
	// vault allows it).
	keyVault connect.StateKeyVault
	desc     string
	close    func() error
}

// openBackend opens the embedded adapters (the default) or, with
// WIRESK_BACKEND=aws, DynamoDB and SQS through the standard AWS SDK
// configuration — real AWS, or emulators through AWS_ENDPOINT_URL_DYNAMODB
// and AWS_ENDPOINT_URL_SQS.
func openBackend(ctx context.Context, cfg config) (*backend, error) {
	switch cfg.Backend {
	case "", "embedded":
		db, err := bolt.Open(cfg.DataDir, bolt.Options{NoSync: cfg.NoSync})
		if err != nil {
			return nil, err
		}
		st, err := bolt.NewStore(db)
		if err != nil {
			db.Close()
			return nil, err
		}
		q, err := bolt.NewQueue(db, bolt.QueueOptions{MaxReceives: int(cfg.MaxReceives)})
		if err != nil {
			db.Close()
			return nil, err
		}
		v, err := bolt.NewVault(db, filepath.Join(cfg.DataDir, "vault.key"))
		if err != nil {
			db.Close()
			return nil, err
		}
		bodies, err := fileblob.New(cfg.DataDir)
		if err != nil {
			db.Close()
			return nil, err
		}
		return &backend{store: st, queue: q, deadLetters: q, vault: v, keyVault: v, bodies: bodies, expireBodies: bodies.DeleteOlderThan,
			desc: "embedded (bbolt in " + cfg.DataDir + ")", close: db.Close}, nil
	case "aws":
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		ddb := dynamodb.NewFromConfig(awsCfg, dynamo.ValidateResponseChecksum)
		sq := sqs.NewFromConfig(awsCfg, sqsqueue.AvoidRequestBodyRace)
		if cfg.Table == "" {
			return nil, fmt.Errorf("WIRESK_BACKEND=aws needs WIRESK_TABLE (the DynamoDB table)")
		}
		queueURL, dlqURL := cfg.QueueURL, cfg.DeadLetterURL
		if cfg.CreateResources {
			if err := dynamo.CreateTable(ctx, ddb, cfg.Table); err != nil {
				return nil, fmt.Errorf("create table %s: %w", cfg.Table, err)
			}
			if queueURL == "" {
				if queueURL, dlqURL, err = sqsqueue.CreateQueues(ctx, sq, cfg.Table+"-runs", int(cfg.MaxReceives), cfg.Visibility); err != nil {
					return nil, fmt.Errorf("create queues: %w", err)
				}
			}
		}
		if queueURL == "" {
			return nil, fmt.Errorf("WIRESK_BACKEND=aws needs WIRESK_QUEUE_URL (the SQS run queue), or WIRESK_CREATE_RESOURCES=1 to create one")
		}
		sqsQ := sqsqueue.New(sq, queueURL, dlqURL)
		b := &backend{
			store: dynamo.New(ddb, cfg.Table, dynamo.Options{RunRetention: time.Duration(cfg.RunRetentionDays) * 24 * time.Hour}),
			queue: sqsQ,
			desc:  fmt.Sprintf("AWS (DynamoDB table %s, SQS queue %s)", cfg.Table, queueURL),
			close: func() error { return nil },
		}
		if dlqURL != "" {
			b.deadLetters = sqsQ
		}
		if cfg.BodyBucket != "" {
			// Path-style addressing where an endpoint is set (an emulator
			// on a loopback address has no bucket host names).
			pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
			client := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
			if cfg.CreateResources {
				if err := s3blob.CreateBucket(ctx, client, cfg.BodyBucket); err != nil {
					return nil, err
				}
			}
			b.bodies = s3blob.New(client, cfg.BodyBucket)
			b.desc += ", bodies in S3 bucket " + cfg.BodyBucket
		} else {
			bodies, err := fileblob.New(cfg.DataDir)
			if err != nil {
				return nil, err
			}
			b.bodies, b.expireBodies = bodies, bodies.DeleteOlderThan
		}
		switch cfg.Vault {
		case "embedded":
			// Secrets (and the OAuth state key) stay in the data
			// directory: Secrets Manager is never called.
			db, err := bolt.Open(cfg.DataDir, bolt.Options{NoSync: cfg.NoSync})
			if err != nil {
				return nil, err
			}
			v, err := bolt.NewVault(db, filepath.Join(cfg.DataDir, "vault.key"))
			if err != nil {
				db.Close()
				return nil, err
			}
			b.vault, b.keyVault, b.close = v, v, db.Close
			b.desc += ", secrets embedded in " + cfg.DataDir
		case "", "aws":
			sm := secretsmanager.NewFromConfig(awsCfg)
			v, err := secrets.New(sm, cfg.SecretPrefix, secrets.Options{})
			if err != nil {
				return nil, fmt.Errorf("WIRESK_SECRET_PREFIX: %w", err)
			}
			b.vault, b.keyVault = v, v
		default:
			return nil, fmt.Errorf("WIRESK_VAULT=%q: want embedded or aws", cfg.Vault)
		}
		return b, nil
	}
	return nil, fmt.Errorf("WIRESK_BACKEND=%q: want embedded or aws", cfg.Backend)
}
