package ebscheduler

// LiteralJSON is literalJSON, for the external tests.
var LiteralJSON = literalJSON
