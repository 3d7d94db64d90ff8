package main

import (
	"net/url"
	"time"
)

// validate reports what is wrong in [assistant] through bad, as
// Config.Validate does for the other sections: zero values are the
// defaults, negative ones are mistakes, and a language model is named by
// an http(s) URL and a model.
func (c AssistantConfig) validate(bad func(format string, args ...any)) {
	if c.ConversationTTL < 0 || (c.ConversationTTL > 0 && c.ConversationTTL < time.Minute) {
		bad("assistant.conversation_ttl %v: want at least 1m (0 is the default, 30m)", c.ConversationTTL)
	}
	if c.MaxTurns < 0 {
		bad("assistant.max_turns must not be negative")
	}
	if c.MaxConversations < 0 {
		bad("assistant.max_conversations must not be negative")
	}
	if c.MessagesPerMinute < 0 && c.MessagesPerMinute != -1 {
		bad("assistant.messages_per_minute %v: want a positive number, 0 for the default or -1 to disable the limit", c.MessagesPerMinute)
	}
	if c.Burst < 0 {
		bad("assistant.burst must not be negative")
	}
	if !c.LLM.Enabled {
		return
	}
	if u, err := url.Parse(c.LLM.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("assistant.llm.url %q: want an http or https URL such as http://10.0.0.5:8000", c.LLM.URL)
	}
	if c.LLM.Model == "" {
		bad("assistant.llm.model is empty: name the model the endpoint serves")
	}
	if c.LLM.Timeout < 0 {
		bad("assistant.llm.timeout must not be negative")
	}
}
