"""Model providers: spec parsing and resolution to LangChain chat models (OpenAI, any LangChain
provider, scripted policies, fakes, human seats), pricing, spend budgets and the response cache.
The embedded llama.cpp server lives in `dilemma.models.local`."""
