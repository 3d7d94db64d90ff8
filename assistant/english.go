package assistant

// englishSynonyms link the English words of common requests to the
// Italian of the catalogue: the English fallback of issue 9. An English
// phrase in a query expands to the Italian phrases of its group, so the
// Comune's Italian catalogue answers without an English translation of
// it. English words go through the Italian stemmer too; that is harmless,
// since query and group are stemmed alike.
func englishSynonyms() [][]string {
	return [][]string{
		{"identity card", "ID card", "electronic identity card", "carta d'identità"},
		{"change of address", "change of residence", "moved house", "new address", "register residence", "residence", "cambio di residenza"},
		{"certificate of residence", "family certificate", "registry certificate", "certificato anagrafico", "certificato di residenza"},
		{"fine", "parking ticket", "speeding ticket", "traffic fine", "multa", "verbale"},
		{"limited traffic zone", "ZTL permit", "permesso ZTL"},
		{"disabled parking", "blue badge", "contrassegno disabili"},
		{"waste tax", "garbage tax", "rubbish tax", "TARI", "tassa sui rifiuti"},
		{"property tax", "IMU"},
		{"wedding", "marriage", "get married", "matrimonio"},
		{"civil union", "unione civile"},
		{"birth registration", "newborn", "dichiarazione di nascita"},
		{"death registration", "death", "denuncia di morte"},
		{"citizenship", "cittadinanza"},
		{"school canteen", "school meals", "refezione scolastica"},
		{"school bus", "scuolabus"},
		{"nursery", "daycare", "asilo nido"},
		{"building permit", "planning permission", "permesso di costruire"},
		{"renovation", "ristrutturazione"},
		{"bulky waste", "furniture collection", "rifiuti ingombranti"},
		{"dog registration", "microchip", "anagrafe canina"},
		{"lost property", "lost and found", "oggetti smarriti"},
		{"financial help", "benefits", "social assistance", "contributi economici"},
		{"social worker", "assistente sociale"},
		{"voter card", "tessera elettorale"},
		{"complaint", "reclamo"},
		{"digital identity", "SPID"},
		{"EU citizen", "registration certificate", "attestazione di soggiorno"},
	}
}

// englishIntents are the English phrases of the intents, checked after
// the Italian ones.
var englishIntents = []struct {
	intent  Intent
	phrases []string
}{
	{IntentOperator, []string{"operator", "speak to someone", "talk to someone", "a person", "human"}},
	{IntentCancel, []string{"cancel"}},
	{IntentMove, []string{"reschedule", "move my appointment", "change my appointment"}},
	{IntentTicket, []string{"queue", "take a number"}},
	{IntentBring, []string{"what do i need", "what should i bring", "which documents", "documents needed"}},
	{IntentCost, []string{"how much", "cost", "price", "fee"}},
	{IntentHours, []string{"opening hours", "what time", "when does", "open", "opens", "closes"}},
	{IntentWhere, []string{"where is", "address of"}},
	{IntentBook, []string{"book", "booking", "appointment"}},
	{IntentThanks, []string{"thanks", "thank you", "bye"}},
}
