from chinook_pipeline.cli.main import main

main()
