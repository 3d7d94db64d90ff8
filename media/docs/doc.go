// Package docs holds the documents that citizens and operators exchange
// during a call: it validates an upload (size, type sniffed from the bytes,
// a safe file name, an optional clamd scan that fails closed), stores it in
// the replicated state in chunks so that it survives the loss of a node,
// serves it back as an attachment, and erases it when the Comune's
// retention ends. docs knows rooms and references ("booking:<id>") only as
// strings: it must not import booking, queue or the call's SFU.
package docs
