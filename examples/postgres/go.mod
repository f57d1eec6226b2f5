module github.com/rtr-go/rtr/examples/postgres

go 1.25.0

require (
	github.com/jackc/pgx/v5 v5.13.0
	github.com/rtr-go/rtr v0.0.0
	github.com/rtr-go/rtr/pgstore v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/redis/go-redis/v9 v9.22.0 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)

replace (
	github.com/rtr-go/rtr => ../../
	github.com/rtr-go/rtr/pgstore => ../../pgstore
)
