// Package knowledge holds what a Comune teaches its virtual assistant in
// the back office: FAQ entries and synonym groups, stored in the replicated
// state through cluster commands, and the Catalogue that joins them with
// the Comune's offices and services (package booking) into the
// assistant.Index the conversation searches. The index is cached per
// Comune and rebuilt only when the booking configuration or the knowledge
// changed. The package has no web code (see assistant/knowledgeweb) and
// never writes except through Propose.
package knowledge
