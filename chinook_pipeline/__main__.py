from chinook_pipeline.cli import main

main()
