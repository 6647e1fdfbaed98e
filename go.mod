module wiresk

go 1.26.8

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/expr-lang/expr v1.17.8
	github.com/golang-jwt/jwt/v5 v5.3.1
	go.etcd.io/bbolt v1.5.0
)

require golang.org/x/sys v0.45.0 // indirect
