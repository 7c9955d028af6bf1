"""The ground floor: domain types shared by every layer (decision, observation, ladder, personas,
enumerations, structured mode, safe text) and the Agent protocol. Imports nothing else of the
project."""
