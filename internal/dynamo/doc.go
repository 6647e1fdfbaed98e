// Package dynamo is the Amazon DynamoDB adapter of the store port
// (storetest.Store): every record of Wiresk lives in ONE table.
//
// # Table
//
// Partition key PK (S), sort key SK (S); two global secondary indexes, GSI1
// (GSI1PK S, GSI1SK S) and GSI2 (GSI2PK S, GSI2SK S), both projecting ALL
// attributes; the Time to Live attribute is ttl (epoch seconds); on-demand
// billing. CreateTable creates exactly this table; the SAM template declares
// the same one.
//
// Items are plain DynamoDB attributes, readable in the console; every item
// has a type attribute saying what it is. Times are RFC 3339 strings in UTC.
// No item holds secret material: an API key is stored as the hex SHA-256 of
// its plaintext, which is what addresses it.
//
//	type        PK                     SK                      GSI1PK / GSI1SK       GSI2PK / GSI2SK
//	group       GROUP#<group>          GROUP
//	member      GROUP#<group>          MEMBER#<user>
//	member      USER#<user>            GROUP#<group>           (the user's copy)
//	apikey      GROUP#<group>          APIKEY#<key>            (the Group's copy)
//	apikey      APIKEY#<sha256>        APIKEY                  (the copy the webhook reads)
//	flow        GROUP#<group>          FLOW#<flow>
//	trigger     GROUP#<group>          FLOW#<flow>#TRIGGER#<trigger>
//	schedule    GROUP#<group>          FLOW#<flow>#SCHEDULE#<trigger>  SCHEDULES / <group>#<flow>#<trigger>
//	route       ROUTE#<routing key>    ROUTE
//	run         RUN#<group>#<run>      RUN                     RUNS#<group> / <at>#<run>  RUNS#<group>#FLOW#<flow> / <at>#<run>
//	run_apikey  RUN#<group>#<run>      APIKEY                                             RUNS#<group>#APIKEY#<key> / <at>#<run>
//
// <at> is the Run's CreatedAt in UTC with nine fractional digits
// (2026-11-01T12:00:00.000000000Z), so that strings sort like times. Ids
// never contain '#'.
//
// Records that two access patterns address differently are stored twice,
// and always written together in one transaction: a membership under its
// Group and under its user, an API key under its Group and under its hash.
// That keeps every management read strongly consistent (GetItem or Query
// on the table, not on an index) and makes the webhook's read one round
// trip. A Run with an API key has a small run_apikey entry beside it (same
// partition key), the only item in the by-key listing.
//
// # Access patterns
//
//	Lookup (webhook)        one BatchGetItem, ConsistentRead: APIKEY#<sha256>/APIKEY and ROUTE#<rk>/ROUTE
//	GetGroup, GetMember…    GetItem, ConsistentRead
//	ListMembers             Query PK = GROUP#<g>, begins_with(SK, "MEMBER#")
//	ListGroupsByUser        Query PK = USER#<u>, begins_with(SK, "GROUP#"), then BatchGetItem of the Groups
//	ListAPIKeys             Query PK = GROUP#<g>, begins_with(SK, "APIKEY#")
//	ListFlows               Query PK = GROUP#<g>, begins_with(SK, "FLOW#"), filter type = flow
//	ListTriggers (Flow)     Query PK = GROUP#<g>, begins_with(SK, "FLOW#<f>#TRIGGER#")
//	ListTriggers (Group)    Query PK = GROUP#<g>, begins_with(SK, "FLOW#"), filter type = trigger
//	a Flow and its triggers Query PK = GROUP#<g>, begins_with(SK, "FLOW#<f>") (HTTP and schedule triggers)
//	ListSchedules (Flow)    Query PK = GROUP#<g>, begins_with(SK, "FLOW#<f>#SCHEDULE#")
//	AllSchedules            Query GSI1: GSI1PK = SCHEDULES (the local runner's scheduler)
//	ListRuns (Group)        Query GSI1: GSI1PK = RUNS#<g>, GSI1SK in [since, until), newest first
//	ListRuns (Flow)         Query GSI2: GSI2PK = RUNS#<g>#FLOW#<f>, GSI2SK in [since, until)
//	ListRuns (API key)      Query GSI2: GSI2PK = RUNS#<g>#APIKEY#<k>, GSI2SK in [since, until), then BatchGetItem of the Runs
//
// Other filters of ListRuns (status, and the API key when listing a Flow's
// Runs) are FilterExpressions; a page is filled by querying on until it is
// full or the range is exhausted. Index queries are eventually consistent,
// so a Run written a moment ago may be missing from a listing.
//
// # Invariants
//
// Conditional writes keep the invariants the store port promises: ids,
// routing keys and key hashes are unique (attribute_not_exists), CreateRun
// is idempotent, UpdateFlow checks the stored version, updates and deletes
// of missing records fail with wiresk.ErrNotFound. Changes to several items
// are one TransactWriteItems. A Flow's routes follow its enabled state: a
// trigger change is committed only if the Flow's enabled state is still the
// one the route was written with, and bumps the Flow's routesRev attribute;
// an UpdateFlow or DeleteFlow is committed only if routesRev is still the one
// it read with the Flow's triggers. A write that loses such a race is
// retried a few times.
package dynamo
