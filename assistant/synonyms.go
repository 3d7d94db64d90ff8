package assistant

// BuiltinSynonyms is the starter list of equivalent phrases of Italian
// public administration, used by every Index in addition to the groups a
// Comune adds. Each group lists ways citizens and offices name the same
// thing; a query that contains one phrase of a group is expanded with the
// others. Groups are kept narrow on purpose: a broad word ("documento",
// "certificato") placed in a group would pull every service that mentions
// it, so it appears only where citizens really use it as a synonym.
func BuiltinSynonyms() [][]string {
	return [][]string{
		{"carta d'identità", "carta di identità", "CIE", "carta identità elettronica", "documento d'identità", "documento di identità"},
		{"cambio di residenza", "cambio di indirizzo", "cambiato casa", "cambio casa", "trasloco", "traslocato", "nuova casa", "nuovo indirizzo", "trasferimento", "mi sono trasferito", "spostare la residenza", "altra via", "nuova via"},
		{"TARI", "tassa rifiuti", "tassa sui rifiuti", "tassa della spazzatura", "tassa immondizia", "spazzatura", "immondizia", "nettezza urbana"},
		{"IMU", "imposta municipale", "tassa sulla casa", "ICI", "seconda casa"},
		{"passo carrabile", "passo carraio", "cartello passo carrabile", "accesso carrabile", "uscita auto"},
		{"ZTL", "zona a traffico limitato", "permesso ZTL", "accesso centro storico", "telecamere centro"},
		{"contrassegno disabili", "pass disabili", "parcheggio disabili", "CUDE", "tagliando invalidi", "contrassegno invalidi"},
		{"multa", "multe", "contravvenzione", "sanzione", "verbale", "infrazione", "autovelox", "divieto di sosta"},
		{"certificato anagrafico", "certificato di residenza", "certificato di nascita", "certificato di stato di famiglia", "stato di famiglia", "certificato storico"},
		{"matrimonio", "pubblicazioni di matrimonio", "sposarsi", "sposare", "nozze", "matrimonio civile", "rito civile"},
		{"unione civile", "unioni civili", "convivenza di fatto", "convivenza", "coppia di fatto", "conviventi"},
		{"bonus", "contributo", "contributi", "sussidio", "aiuto economico", "sostegno economico", "buoni spesa", "sostegno al reddito", "difficoltà economiche", "pagare le bollette", "pagare l'affitto"},
		{"mensa", "mensa scolastica", "refezione scolastica", "refezione", "pasti a scuola", "pranzo a scuola", "buoni pasto scuola"},
		{"scuolabus", "trasporto scolastico", "pulmino", "pullmino", "autobus scuola"},
		{"asilo nido", "nido", "nido d'infanzia", "asilo"},
		{"permesso di costruire", "concessione edilizia", "licenza edilizia", "costruire", "costruzione", "ampliamento", "veranda", "nuova costruzione"},
		{"CILA", "SCIA", "ristrutturazione", "lavori in casa", "manutenzione straordinaria", "pratica edilizia", "lavori edili"},
		{"ingombranti", "rifiuti ingombranti", "ritiro mobili", "vecchi mobili", "materasso", "divano", "elettrodomestici", "RAEE", "frigo", "frigorifero", "lavatrice", "buttare"},
		{"compostaggio", "compostiera", "composter", "umido in giardino"},
		{"anagrafe canina", "microchip", "cane", "cani", "animali domestici"},
		{"tessera elettorale", "scheda elettorale", "votare", "voto", "elezioni", "seggio"},
		{"SPID", "identità digitale", "credenziali SPID", "facilitazione digitale"},
		{"reclamo", "segnalazione", "lamentela", "disservizio", "protesta"},
		{"accesso agli atti", "copia atti", "visione atti", "accesso documentale", "FOIA"},
		{"morte", "decesso", "defunto", "morto", "lutto", "funerale"},
		{"nascita", "neonato", "nato", "è nato", "bambino appena nato", "dichiarazione di nascita"},
		{"cittadinanza", "cittadinanza italiana", "iure sanguinis", "naturalizzazione"},
		{"autentica", "autenticazione di firma", "firma autenticata", "copia conforme", "legalizzazione foto"},
		{"assistenza domiciliare", "badante", "anziani", "anziano", "non autosufficiente"},
		{"oggetti smarriti", "oggetto smarrito", "ho perso", "perso", "smarrito", "ritrovato"},
		{"suolo pubblico", "occupazione suolo pubblico", "dehors", "tavolini", "ponteggio", "impalcatura", "banchetto", "gazebo", "raccolta firme", "mercatino"},
		{"albero", "alberi", "abbattimento", "potatura", "taglio alberi"},
		{"URP", "ufficio relazioni con il pubblico", "informazioni", "operatore", "parlare con qualcuno"},
		{"testamento biologico", "DAT", "disposizioni anticipate di trattamento", "biotestamento"},
		{"libri di testo", "cedole librarie", "borsa di studio", "borse di studio", "libri scuola"},
		{"iscrizione", "iscrivere", "iscritto", "iscriversi"},
		{"cittadino europeo", "cittadino comunitario", "cittadino UE", "cittadini dell'Unione europea", "rumeno", "rumena", "polacco", "polacca", "bulgaro", "bulgara", "francese", "tedesco", "spagnolo"},
		{"violenza", "violenza domestica", "maltrattamenti", "centro antiviolenza"},
		{"ISEE", "DSU", "dichiarazione sostitutiva unica"},
		{"rateizzazione", "rate", "pagare a rate", "dilazione"},
		{"AIRE", "residenti all'estero", "trasferimento all'estero", "vivo all'estero", "andare all'estero", "Germania", "Francia", "Svizzera", "Belgio", "Inghilterra", "Regno Unito", "Stati Uniti", "Argentina", "Brasile", "Australia"},
	}
}
