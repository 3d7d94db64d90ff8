// Package chat is the virtual assistant's conversation: it turns a
// citizen's message into a reply over the Comune's catalogue
// (assistant/knowledge), with the understanding core of package
// assistant (search, decision, intent, dates), and acts only through the
// same domain calls as the web pages: booking.Book.Slots and
// booking.Book.Create for appointments, queue.Queue.Take for tickets.
//
// A conversation's state travels with the citizen: the engine seals it
// (AES-GCM, with a key every node holds) into the conversation_id it
// returns, so that any node can serve the next message and nothing of the
// conversation is written to the replicated log or to disk. The node keeps
// in memory only a bounded table of the conversations alive on it, for the
// cap on concurrent conversations. See DESIGN.md.
//
// Replies are built only from the Comune's data; the optional language
// model (Rephraser) may reword a grounded reply but never adds a fact, and
// the engine falls back to the grounded text when it fails or strays.
package chat
